using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Collapses a chain of shape-only ops (Reshape, Flatten, Squeeze, Unsqueeze) into one Reshape.
/// </summary>
/// <remarks>
/// <code>
///   x ─Flatten/Squeeze/Unsqueeze/Reshape─▶ y ─Reshape(s)─▶ z      ⇒      x ─Reshape(s)─▶ z      (s has no 0)
///   x ─(any of the four)─▶ y ─(any of the four)─▶ z[d…]            ⇒      x ─Reshape([d…])─▶ z   (z's shape static)
/// </code>
/// All four ops keep the elements in row-major order and only relabel the dims, so a chain is one Reshape to the
/// last shape. That shape is either the last Reshape's own constant shape (when it has no 0, which would copy a dim
/// of y rather than of x; −1 is fine, the element count is the same) or z's static shape from
/// <see cref="StaticShapes"/>. Preconditions: y is read only by the second node and is not a graph output; the
/// opset is at least 5 (Reshape with a shape input). The rewrite repeats along a chain in one run.
/// </remarks>
public sealed class FuseReshapes : PatternPass<FuseReshapes.Found>
{
    private static readonly HashSet<string> ShapeOnly = ["Reshape", "Flatten", "Squeeze", "Unsqueeze"];

    public sealed record Found(Node First, Node Second, string? ShapeName, long[]? Shape);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-reshapes", PassKind.Fusion,
        "Collapses Reshape/Flatten/Squeeze/Unsqueeze chains into one Reshape.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = ShapeOnly;

    protected override Found? Match(Node second, PassArguments arguments, PassResult result)
    {
        var graph = second.Graph!;
        if (second.Inputs.Count < 1 || second.Outputs.Count != 1) return null;
        var first = graph.GetProducer(second.Inputs[0]);
        if (first is null || !Graph.IsDefaultDomain(first.Domain) || !ShapeOnly.Contains(first.OpType) || first.Outputs.Count != 1) return null;
        string where = $"{first} → {second}";
        var y = first.Outputs[0];
        if (graph.UseCount(y) != 1 || graph.MustKeepName(y))
            return Skip(result, $"{where}: the intermediate value is also read elsewhere or is a graph output");
        if ((graph.GetOpsetVersion("") ?? 1) < 5) return Skip(result, $"{where}: opset below 5 has no Reshape with a shape input");
        if (second.Is("Reshape") && second.Inputs.Count == 2 && second.GetInt("allowzero", 0) == 0
            && StaticShapes.ConstantInts(graph, second.Inputs[1]) is { } own && !own.Contains(0))
            return new Found(first, second, second.Inputs[1], null);
        if (StaticShapes.Of(graph, second.Outputs[0]) is { } shape)
            return new Found(first, second, null, shape);
        return Skip(result, $"{where}: the final shape is not known statically");
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        string shape = m.ShapeName ?? Weights.Add(graph, m.Second.Outputs[0] + "_shape", 7, [m.Shape!.Length],
            MemoryMarshal.AsBytes(m.Shape.AsSpan()).ToArray()).Name;
        string x = m.First.Inputs[0], z = m.Second.Outputs[0];
        var inputs = new List<string>();
        foreach (var n in new[] { m.First, m.Second })
            for (int i = 1; i < n.Inputs.Count; i++) inputs.Add(n.Inputs[i]);
        graph.CreateNode("Reshape", [x, shape], [z], before: m.First);
        graph.RemoveNodes([m.First, m.Second]);
        foreach (var name in inputs) Weights.RemoveIfUnused(graph, name);
        return true;
    }
}
