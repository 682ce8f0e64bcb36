using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Folding;

/// <summary>
/// Replaces a Reshape's computed target shape by a constant when the computed parts only copy dims of the
/// Reshape's own input, which Reshape's 0 ("copy this dim") expresses directly.
/// </summary>
/// <remarks>
/// <code>
///   x ─Shape─▶ s ─Slice[0:1]─▶ n ─┐
///                     c = [-1] ───┴─Concat─▶ t ─▶ Reshape(x, t)      ⇒      Reshape(x, [0, -1])
/// </code>
/// The target is a Concat (axis 0) of pieces, each a constant 1-D int tensor, or a piece of Shape(x) for the same x
/// the Reshape reads: Shape(x) whole, Slice(Shape(x)) with step 1, or Unsqueeze(Gather(Shape(x), i)); Casts between
/// int32 and int64 on the way are transparent. A piece of Shape(x) holding dims a…b−1 that lands at output positions
/// a…b−1 becomes 0s; one single dim of x that moves elsewhere becomes −1, which Reshape infers from the element count
/// (the other dims are then all known or copied, so it is the same value), provided no other −1 is left. Preconditions: allowzero is 0 (so 0 means "copy"); x's rank is known when an index is
/// negative or open-ended. The shape subgraph is left for <c>eliminate-dead</c>. This is what lets dynamic-batch
/// models (Shape→Slice→Concat→Reshape before a classifier) lose their shape arithmetic without knowing the batch.
/// </remarks>
public sealed class FoldReshapeShape : PatternPass<FoldReshapeShape.Found>
{
    public sealed record Found(Node Reshape, long[] Shape);

    public override PassDescriptor Descriptor { get; } = new(
        "fold-reshape-shape", PassKind.Folding,
        "Turns a Reshape target computed from the input's own Shape (Shape→Slice/Gather→Concat) into a constant with 0 for copied dims.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Reshape" };

    protected override Found? Match(Node reshape, PassArguments arguments, PassResult result)
    {
        var graph = reshape.Graph!;
        if (reshape.Inputs.Count != 2 || graph.TryGetConstant(reshape.Inputs[1]) is not null) return null;
        if (reshape.GetInt("allowzero", 0) != 0) return null;
        var concat = graph.GetProducer(SkipCasts(graph, reshape.Inputs[1]));
        if (concat is null || !concat.Is("Concat") || concat.GetInt("axis", 0) is not (0 or -1)) return null;
        string x = reshape.Inputs[0];
        var shape = new List<long>();
        bool copies = false;
        foreach (var piece in concat.Inputs)
        {
            if (StaticShapes.ConstantInts(graph, piece) is { } constant)
            {
                shape.AddRange(constant);
                continue;
            }
            if (DimsOfInput(graph, SkipCasts(graph, piece), x) is not var (from, to)) return null;
            if (from == shape.Count) for (long d = from; d < to; d++) shape.Add(0);
            else if (to - from == 1) shape.Add(-1);
            else return null;
            copies = true;
        }
        if (!copies || shape.Count(d => d == -1) > 1) return null;
        return new Found(reshape, [.. shape]);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        var constant = Weights.Add(graph, m.Reshape.Outputs[0] + "_shape", 7, [m.Shape.Length], MemoryMarshal.AsBytes(m.Shape.AsSpan()).ToArray());
        m.Reshape.SetInput(1, constant.Name);
        return true;
    }

    // Which dims [from, to) of x's shape the value holds, when it is a piece of Shape(x); null otherwise.
    private static (long From, long To)? DimsOfInput(Graph graph, string name, string x)
    {
        var node = graph.GetProducer(name);
        if (node is null || !Graph.IsDefaultDomain(node.Domain)) return null;
        if (node.OpType == "Unsqueeze" && StaticShapes.Axes(node) is [0 or -1])
        {
            var gather = graph.GetProducer(SkipCasts(graph, node.Inputs[0]));
            if (gather is null || !gather.Is("Gather") || gather.GetInt("axis", 0) != 0) return null;
            if (ShapeDims(graph, gather.Inputs[0], x) is not var (start, end)) return null;
            if (graph.TryGetConstant(gather.Inputs[1]) is not { Dims.Count: 0 } || StaticShapes.ConstantInts(graph, gather.Inputs[1]) is not [var i]) return null;
            if (i < 0) i += end - start;
            return i < 0 || start + i >= end ? null : (start + i, start + i + 1);
        }
        if (node.OpType == "Slice")
        {
            if (ShapeDims(graph, node.Inputs[0], x) is not var (start, end)) return null;
            long[]? starts, ends, axes, steps = null;
            if (node.Inputs.Count >= 3)
            {
                starts = StaticShapes.ConstantInts(graph, node.Inputs[1]);
                ends = StaticShapes.ConstantInts(graph, node.Inputs[2]);
                axes = node.Inputs.Count > 3 && node.Inputs[3].Length > 0 ? StaticShapes.ConstantInts(graph, node.Inputs[3]) : [0];
                if (node.Inputs.Count > 4 && node.Inputs[4].Length > 0) steps = StaticShapes.ConstantInts(graph, node.Inputs[4]);
            }
            else
            {
                starts = node.GetInts("starts")?.ToArray();
                ends = node.GetInts("ends")?.ToArray();
                axes = node.GetInts("axes")?.ToArray() ?? [0];
            }
            if (starts is not [var s] || ends is not [var e] || axes is not [0 or -1] || steps is not (null or [1])) return null;
            long length = end - start;
            s = Math.Clamp(s < 0 ? s + length : s, 0, length);
            e = Math.Clamp(e < 0 ? e + length : e, 0, length);
            return e <= s ? null : (start + s, start + e);
        }
        return ShapeDims(graph, name, x);
    }

    // When the value is Shape(x) (with its optional start/end), the dims [start, end) of x it holds. Needs x's rank.
    private static (long Start, long End)? ShapeDims(Graph graph, string name, string x)
    {
        var node = graph.GetProducer(SkipCasts(graph, name));
        if (node is null || !node.Is("Shape") || node.Inputs[0] != x) return null;
        if (Ranks.Of(graph, x) is not { } rank) return null;
        long start = node.GetInt("start", 0), end = node.GetInt("end", rank);
        start = Math.Clamp(start < 0 ? start + rank : start, 0, rank);
        end = Math.Clamp(end < 0 ? end + rank : end, 0, rank);
        return end < start ? null : (start, end);
    }

    // Follows Casts between int32 and int64 (dims fit either) back to their source.
    private static string SkipCasts(Graph graph, string name)
    {
        while (graph.GetProducer(name) is { } cast && cast.Is("Cast") && cast.GetInt("to", 0) is 6 or 7) name = cast.Inputs[0];
        return name;
    }
}
