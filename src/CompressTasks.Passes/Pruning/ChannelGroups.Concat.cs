using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Pruning;

/// <summary>The channel widths of a Concat's inputs along the channel axis, kept current as groups are pruned.</summary>
internal sealed class ConcatLayout(long[] widths)
{
    public long[] Widths { get; } = widths;

    public long Offset(int index) => Widths.AsSpan(0, index).ToArray().Sum();
}

/// <summary>Input <paramref name="Index"/> of a Concat: its channels sit at <see cref="ConcatLayout.Offset"/> of the output.</summary>
internal sealed record ConcatPart(ConcatLayout Layout, int Index);

// Concat: each input's channels are a block of the readers' input axis.
internal static partial class ChannelGroups
{
    // A Concat along the channel axis (Conv layout) read only by group-1 Convs: each input's channels are a block of
    // those Convs' input axis, at the offset the inputs before it take. Its output carries no group further.
    private static string? ConcatReaders(Graph graph, Node node, List<(int Index, Tag Tag, ChannelGroup Group)> inputs)
    {
        string where = $"{node} (Concat)";
        int rank = inputs[0].Tag.Rank;
        if (inputs.Any(i => i.Tag.Rank == 0 || i.Tag.Flattened || i.Tag.Rank != rank)) return $"{where} joins channels that are not in Conv layout";
        long axis = node.GetInt("axis", 0);
        if ((axis < 0 ? axis + rank : axis) != 1) return $"{where} does not concatenate along the channel axis";
        if (inputs.Select(i => i.Group).Distinct().Count() != inputs.Count) return $"{where} reads the same channels twice";
        string output = node.Outputs[0];
        if (graph.MustKeepName(output)) return $"{where}: '{output}' is a graph output; its shape must stay";
        var readers = graph.GetConsumers(output).Where(c => c.Node.Graph == graph).ToList();
        if (readers.Count != graph.UseCount(output)) return $"{where}: '{output}' is read inside a subgraph";
        // Every input's width: the producer's output channels for a pruned one, the static shape otherwise.
        var widths = new long[node.Inputs.Count];
        for (int i = 0; i < widths.Length; i++)
        {
            var tagged = inputs.FirstOrDefault(t => t.Index == i).Group;
            long? width = tagged is not null ? graph.TryGetConstant(tagged.Producers[0].Inputs[1])?.Dims[0] : StaticShapes.Of(graph, node.Inputs[i]) is [_, var c, ..] && c > 0 ? c : null;
            if (width is not { } w) return $"{where}: the channel count of '{node.Inputs[i]}' is not known";
            widths[i] = w;
        }
        var layout = new ConcatLayout(widths);
        var slices = new List<(ChannelGroup, ChannelSlice)>();
        foreach (var (reader, index) in readers)
        {
            var weight = reader.Inputs.Count > 1 ? graph.TryGetConstant(reader.Inputs[1]) : null;
            if (!reader.Is("Conv") || index != 0 || reader.GetInt("group", 1) != 1 || weight is not { DataType: 1 } || weight.Dims.Count != rank || weight.Dims[1] != widths.Sum())
                return $"{where}: its output is read by {reader} ({reader.OpType}); channels through a Concat are followed only into group-1 Convs";
            foreach (var (i, _, group) in inputs) slices.Add((group, new ChannelSlice(reader, weight.Name, 1, false) { Part = new ConcatPart(layout, i) }));
        }
        foreach (var (group, slice) in slices) group.Slices.Add(slice);
        foreach (var (_, _, group) in inputs) group.Values.Add(output);
        return null;
    }
}
