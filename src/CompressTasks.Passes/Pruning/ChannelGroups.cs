using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// Slice constant <paramref name="Name"/> (read by <paramref name="Node"/>) along <paramref name="Axis"/>; a flattened
/// read owns H·W entries per channel. <paramref name="Groups"/> &gt; 1: the input axis of a grouped Conv weight
/// [M, C/g, k…], whose output rows of group j read only channels j·C/g … (j+1)·C/g − 1 (each group keeps its own
/// in-group indices).
/// </summary>
internal sealed record ChannelSlice(Node Node, string Name, int Axis, bool Flattened, int Groups = 1)
{
    /// <summary>Set when the channels reach this Conv weight through a Concat: they are one block of its input axis.</summary>
    public ConcatPart? Part { get; init; }
}

/// <summary>
/// Output channels that must be pruned together: the channels of one or more producers (Conv, Gemm, MatMul with a
/// constant weight) that elementwise ops join (a residual Add couples its inputs' channels), with every constant
/// that must lose the same channels downstream, and the reason the group cannot be pruned, if any.
/// </summary>
internal sealed class ChannelGroup
{
    public List<Node> Producers { get; } = [];

    /// <summary>Constants to slice: producer weights/biases on the output axis, BN parameters, per-channel operands, consumer weights on the input axis.</summary>
    public List<ChannelSlice> Slices { get; } = [];

    /// <summary>Depthwise convolutions the channels pass through (their <c>group</c> follows the channel count).</summary>
    public List<Node> Depthwise { get; } = [];

    /// <summary>BatchNormalization nodes the channels pass through (for <c>criterion: bn-gamma</c>).</summary>
    public List<Node> Norms { get; } = [];

    /// <summary>Values that carry the channels (their value_info shapes go stale).</summary>
    public List<string> Values { get; } = [];

    /// <summary>
    /// Grouped convolutions split the channels into this many equal parts that must each lose the same number (1: no
    /// constraint); <see cref="PartitionNode"/> is the grouped Conv that asks for it.
    /// </summary>
    public int Partition { get; set; } = 1;

    public Node? PartitionNode { get; set; }

    /// <summary>Requires <paramref name="parts"/> equal parts (for <paramref name="node"/>); a second, different partition refuses the group.</summary>
    public void Partitioned(int parts, Node node)
    {
        if (parts <= 1 || parts == Partition) return;
        if (Partition == 1)
        {
            (Partition, PartitionNode) = (parts, node);
            return;
        }
        Refusal ??= $"grouped convolutions {PartitionNode} (group {Partition}) and {node} (group {parts}) split the channels differently";
    }

    public string? Refusal { get; set; }

    public string Describe() => string.Join(", ", Producers.Select(p => p.ToString()));
}

/// <summary>
/// Finds the channel groups of a graph in one sweep over its nodes in order, with union-find over groups.
/// </summary>
/// <remarks>
/// A value carries a group's channels on axis 1 (Conv layout, rank r) or on the last axis (Gemm/MatMul layout).
/// Understood on the way: elementwise unary ops and pools (channels pass through), BatchNormalization, depthwise Conv
/// (group = channels), grouped Conv (1 &lt; group &lt; channels: a reader whose weight keeps, per group, the kept
/// channels of that group's block; the channels must then go equally from every block, see
/// <see cref="ChannelGroup.Partition"/>), Resize with scale 1 on N and C, binary elementwise ops (two channel-carrying inputs: their
/// groups unite; a constant operand passes when it broadcasts over the channel axis and is sliced when it has one
/// value per channel), Flatten(axis 1) into a Gemm/MatMul (channel c owns features c·H·W … (c+1)·H·W − 1), and the
/// readers that end a group: Conv, ConvTranspose, Gemm, MatMul input channels; a Concat along the channel axis read
/// only by group-1 Convs (each input's channels are a block of those Convs' input axis, at its offset: the inputs'
/// groups stay independent, a group reaching one Concat twice is refused). Anything else that reads the
/// channels (Reshape, Transpose, another Concat, an unknown op, a subgraph) or a graph output refuses the group.
/// </remarks>
internal static partial class ChannelGroups
{
    private static readonly HashSet<string> Unary =
        ["Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Clip", "Identity", "Softplus", "Softsign", "Abs", "Neg", "Dropout"];
    private static readonly HashSet<string> Pools = ["MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "GlobalLpPool"];
    private static readonly HashSet<string> Binary = ["Add", "Sub", "Mul", "Div", "Max", "Min", "PRelu"];

    // Where a value's channels are: its group, the rank for axis-1 layouts (0: last axis), and whether it was flattened.
    private readonly record struct Tag(int Group, int Rank, bool Flattened);

    public static List<ChannelGroup> Find(Graph graph, Func<Node, bool> isProducer)
    {
        var groups = new List<ChannelGroup>();
        var parent = new List<int>();
        var tags = new Dictionary<string, Tag>(StringComparer.Ordinal);
        int Root(int g) => parent[g] == g ? g : parent[g] = Root(parent[g]);
        ChannelGroup G(int g) => groups[Root(g)];
        void Refuse(int g, string reason) => G(g).Refusal ??= reason;
        int Unite(int a, int b)
        {
            a = Root(a);
            b = Root(b);
            if (a == b) return a;
            if (b < a) (a, b) = (b, a);
            parent[b] = a;
            var (ga, gb) = (groups[a], groups[b]);
            ga.Producers.AddRange(gb.Producers);
            ga.Slices.AddRange(gb.Slices);
            ga.Depthwise.AddRange(gb.Depthwise);
            ga.Norms.AddRange(gb.Norms);
            ga.Values.AddRange(gb.Values);
            ga.Refusal ??= gb.Refusal;
            if (gb.PartitionNode is { } partitioned) ga.Partitioned(gb.Partition, partitioned);
            return a;
        }
        void Carry(string value, Tag tag)
        {
            if (value.Length == 0) return;
            tags[value] = tag;
            G(tag.Group).Values.Add(value);
        }

        foreach (var node in graph.Nodes)
        {
            var inputs = new List<(int Index, Tag Tag)>();
            for (int i = 0; i < node.Inputs.Count; i++)
                if (tags.TryGetValue(node.Inputs[i], out var t)) inputs.Add((i, t with { Group = Root(t.Group) }));
            bool standard = Graph.IsDefaultDomain(node.Domain);
            string op = node.OpType;

            if (inputs.Count > 0)
            {
                string where = $"{node} ({op})";
                var (index, tag) = inputs[0];
                string? refusal = null;
                if (!standard) refusal = $"{where} is not an op channel pruning understands";
                else if (op is "Conv" or "ConvTranspose" or "Gemm" or "MatMul")
                {
                    bool passThrough = false;
                    if (inputs.Count > 1 || index != 0) refusal = $"{where} reads the channels as a weight";
                    else refusal = ConsumerSlice(graph, node, tag, groups[tag.Group], out passThrough);
                    if (refusal is null && passThrough) Carry(node.Outputs[0], tag);
                }
                else if (Unary.Contains(op) || (Pools.Contains(op) && tag.Rank > 0 && !tag.Flattened) || (op == "BatchNormalization" && tag.Rank > 0 && !tag.Flattened))
                {
                    if (inputs.Count > 1 || index != 0) refusal = $"{where} reads the channels as a parameter";
                    else if (node.Outputs.Skip(1).Any(o => o.Length > 0)) refusal = $"{where} has extra outputs";
                    else
                    {
                        if (op == "BatchNormalization")
                        {
                            groups[tag.Group].Norms.Add(node);
                            for (int p = 1; p <= 4 && p < node.Inputs.Count; p++) groups[tag.Group].Slices.Add(new ChannelSlice(node, node.Inputs[p], 0, false));
                        }
                        Carry(node.Outputs[0], tag);
                    }
                }
                else if (op == "Resize" && tag.Rank > 0 && index == 0 && inputs.Count == 1 && ScalesKeepChannels(graph, node))
                    Carry(node.Outputs[0], tag);
                else if (op == "Flatten" && tag.Rank > 0 && !tag.Flattened && node.GetInt("axis", 1) == 1)
                    Carry(node.Outputs[0], tag with { Flattened = true });
                else if (op == "Concat")
                    refusal = ConcatReaders(graph, node, inputs.Select(i => (i.Index, i.Tag, groups[i.Tag.Group])).ToList());
                else if (Binary.Contains(op) && node.Inputs.Count == 2)
                {
                    int group = tag.Group;
                    foreach (var (_, other) in inputs.Skip(1))
                    {
                        if (other.Rank != tag.Rank || other.Flattened != tag.Flattened) refusal = $"{where} joins channels laid out differently";
                        group = Unite(group, other.Group);
                    }
                    if (inputs.Count == 1) refusal = ConstantOperand(graph, node, 1 - index, tag, groups[Root(group)]);
                    if (refusal is null) Carry(node.Outputs[0], tag with { Group = Root(group) });
                }
                else refusal = $"{where} reads the channels and channel pruning does not go through it";
                if (refusal is not null) foreach (var (_, t) in inputs) Refuse(t.Group, refusal);
            }

            if (standard && isProducer(node) && node.Outputs.Count == 1)
            {
                var group = new ChannelGroup();
                group.Producers.Add(node);
                // A grouped Conv's output channels come in `group` blocks, each computed from its own inputs.
                if (node.Is("Conv")) group.Partitioned((int)node.GetInt("group", 1), node);
                groups.Add(group);
                parent.Add(groups.Count - 1);
                Carry(node.Outputs[0], new Tag(groups.Count - 1, node.Is("Conv") ? graph.TryGetConstant(node.Inputs[1])!.Dims.Count : 0, false));
            }
        }

        // Channels must not leave the graph or be read where this sweep did not look (subgraphs).
        foreach (var (value, tag) in tags)
        {
            if (graph.MustKeepName(value)) Refuse(tag.Group, $"'{value}' is a graph output; its shape must stay");
            else if (graph.UseCount(value) != graph.GetConsumers(value).Count(c => c.Node.Graph == graph))
                Refuse(tag.Group, $"'{value}' is read inside a subgraph");
        }
        return [.. groups.Where((g, i) => Root(i) == i)];
    }

    // A Conv/ConvTranspose/Gemm/MatMul reading the channels as its data input: slice its weight's input axis.
    // A depthwise Conv instead passes the channels through (its weight and bias lose them on axis 0).
    private static string? ConsumerSlice(Graph graph, Node node, Tag tag, ChannelGroup group, out bool passThrough)
    {
        passThrough = false;
        string where = $"{node} ({node.OpType})";
        var weight = node.Inputs.Count > 1 ? graph.TryGetConstant(node.Inputs[1]) : null;
        if (weight is null || weight.DataType != 1) return $"{where} has no float constant weight";
        var dims = weight.Dims;
        switch (node.OpType)
        {
            case "Conv" when tag.Rank == 0 || tag.Flattened || dims.Count != tag.Rank:
                return $"{where} reads channels that are not in Conv layout";
            case "Conv" when node.GetInt("group", 1) == 1:
                group.Slices.Add(new ChannelSlice(node, weight.Name, 1, false));
                return null;
            case "Conv" when dims[1] == 1 && node.GetInt("group", 1) == dims[0]:
                group.Depthwise.Add(node);
                group.Slices.Add(new ChannelSlice(node, weight.Name, 0, false));
                if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0) group.Slices.Add(new ChannelSlice(node, node.Inputs[2], 0, false));
                passThrough = true;
                return null;
            case "Conv":
                // Grouped: each group of output rows reads its own block of C/g channels.
                int groups = (int)node.GetInt("group", 1);
                group.Slices.Add(new ChannelSlice(node, weight.Name, 1, false, groups));
                group.Partitioned(groups, node);
                return null;
            case "ConvTranspose" when tag.Rank > 0 && !tag.Flattened && node.GetInt("group", 1) == 1:
                group.Slices.Add(new ChannelSlice(node, weight.Name, 0, false));
                return null;
            case "Gemm" when dims.Count == 2 && (tag.Rank == 0 || tag.Flattened) && node.GetInt("transA", 0) == 0:
                group.Slices.Add(new ChannelSlice(node, weight.Name, node.GetInt("transB", 0) != 0 ? 1 : 0, tag.Flattened));
                return null;
            case "MatMul" when dims.Count == 2 && (tag.Rank == 0 || tag.Flattened):
                group.Slices.Add(new ChannelSlice(node, weight.Name, 0, tag.Flattened));
                return null;
            default:
                return $"{where} reads the channels in a layout channel pruning does not handle";
        }
    }

    // The constant operand of a binary op: broadcast over channels (passes), one value per channel (sliced), else refused.
    private static string? ConstantOperand(Graph graph, Node node, int index, Tag tag, ChannelGroup group)
    {
        string where = $"{node} ({node.OpType})";
        var constant = graph.TryGetConstant(node.Inputs[index]);
        if (constant is null) return $"{where} joins the channels with '{node.Inputs[index]}', which no prunable layer produces";
        var dims = constant.Dims;
        if (tag.Flattened) return dims.All(d => d == 1) ? null : $"{where} applies a non-scalar constant to flattened channels";
        int p = tag.Rank > 0 ? dims.Count - (tag.Rank - 1) : dims.Count - 1;
        if (p < 0 || dims[p] == 1) return null;
        if (constant.DataType != 1) return $"{where}: per-channel constant '{constant.Name}' is not float32";
        group.Slices.Add(new ChannelSlice(node, constant.Name, p, false));
        return null;
    }

    private static bool ScalesKeepChannels(Graph graph, Node node)
    {
        if (node.Inputs.Count > 3 && node.Inputs[3].Length > 0) return false;
        var scales = node.Inputs.Count > 2 ? graph.TryGetConstant(node.Inputs[2]) : node.Inputs.Count > 1 ? graph.TryGetConstant(node.Inputs[1]) : null;
        return scales is { DataType: 1, ElementCount: >= 2 } && scales.AsFloat()[0] == 1 && scales.AsFloat()[1] == 1;
    }
}
