using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Composes two consecutive Transposes into one, or removes both when they cancel.
/// </summary>
/// <remarks>
/// <code>
///   x ─Transpose(p)─▶ y ─Transpose(q)─▶ z      ⇒      x ─Transpose(r)─▶ z,   r[i] = p[q[i]]
///                                               ⇒      x ─▶ readers of z      when r is the identity
/// </code>
/// z[i…] takes axis q[i] of y, which is axis p[q[i]] of x. Preconditions: y is read only by the second Transpose and
/// is not a graph output (else the first must stay and nothing is saved); a missing perm (reverse the axes) needs the
/// rank, known from <see cref="StaticShapes"/>. When the pair cancels and z must keep its name (a graph output), an
/// Identity from x to z is left for <c>eliminate-identity</c> to settle.
/// </remarks>
public sealed class FuseTransposes : PatternPass<FuseTransposes.Found>
{
    public sealed record Found(Node First, Node Second, long[] Composed);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-transposes", PassKind.Fusion,
        "Composes consecutive Transposes into one and removes pairs that cancel.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Transpose" };

    protected override Found? Match(Node second, PassArguments arguments, PassResult result)
    {
        var graph = second.Graph!;
        if (second.Inputs.Count != 1 || second.Outputs.Count != 1) return null;
        var first = graph.GetProducer(second.Inputs[0]);
        if (first is null || !first.Is("Transpose") || first.Outputs.Count != 1) return null;
        string where = $"{first} → {second}";
        var y = first.Outputs[0];
        if (graph.UseCount(y) != 1 || graph.MustKeepName(y))
            return Skip(result, $"{where}: the first Transpose's output is also read elsewhere or is a graph output");
        int? rank = first.GetInts("perm")?.Count ?? second.GetInts("perm")?.Count ?? StaticShapes.Of(graph, first.Inputs[0])?.Length;
        if (rank is null) return Skip(result, $"{where}: no perm and the rank is unknown");
        var p = Perm(first, rank.Value);
        var q = Perm(second, rank.Value);
        if (p is null || q is null) return Skip(result, $"{where}: the perms do not match the rank {rank}");
        var r = new long[q.Length];
        for (int i = 0; i < r.Length; i++) r[i] = p[q[i]];
        return new Found(first, second, r);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        string x = m.First.Inputs[0], z = m.Second.Outputs[0];
        bool identity = true;
        for (int i = 0; i < m.Composed.Length; i++) identity &= m.Composed[i] == i;
        if (identity && !graph.MustKeepName(z))
        {
            try
            {
                graph.ReplaceAllUses(z, x);
            }
            catch (CompressTasksException e) when (e.Code == DiagnosticCodes.NameShadowed)
            {
                result.Skip($"{m.First} → {m.Second}: {e.Message}");
                return false;
            }
            graph.RemoveNodes([m.First, m.Second]);
            return true;
        }
        var fused = graph.CreateNode(identity ? "Identity" : "Transpose", [x], [z], before: m.First);
        if (!identity) fused.Proto.Attribute.Add(new Model.Onnx.AttributeProto { Name = "perm", Type = Model.Onnx.AttributeProto.Types.AttributeType.Ints, Ints = { m.Composed } });
        graph.RemoveNodes([m.First, m.Second]);
        return true;
    }

    // The node's perm, or the reversal of the axes when it has none.
    private static long[]? Perm(Node node, int rank)
    {
        var perm = node.GetInts("perm");
        if (perm is null) return [.. Enumerable.Range(0, rank).Select(i => (long)(rank - 1 - i))];
        if (perm.Count != rank) return null;
        foreach (var a in perm)
            if (a < 0 || a >= rank) return null;
        return [.. perm];
    }
}
