using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Fuses a 2-D MatMul followed by a bias Add into one Gemm.
/// </summary>
/// <remarks>
/// <code>
///   A[M,K] ─MatMul(B[K,N])─▶ y ─Add(c)─▶ z      ⇒      A ─Gemm(B, c)─▶ z      (alpha = beta = 1)
/// </code>
/// Preconditions: A is known to have rank 2 (Gemm takes only matrices; a batched MatMul must stay); B is a
/// constant [K, N]; c is a constant [N] or [1, N], which Gemm broadcasts exactly as Add did; y is read only by the
/// Add and is not a graph output; the model's opset is at least 7 (Gemm's unidirectional broadcasting of C).
/// </remarks>
public sealed class FuseMatMulAdd : PatternPass<FuseMatMulAdd.Found>
{
    public sealed record Found(Node MatMul, Node Add, string Bias);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-matmul-add", PassKind.Fusion,
        "Fuses MatMul + Add(bias) into Gemm where ranks and broadcasting allow.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "MatMul" };

    protected override Found? Match(Node matmul, PassArguments arguments, PassResult result)
    {
        var graph = matmul.Graph!;
        if (matmul.Inputs.Count != 2 || matmul.Outputs.Count != 1) return null;
        var y = matmul.Outputs[0];
        var readers = graph.GetConsumers(y);
        if (readers.Count != 1 || !readers[0].Node.Is("Add") || readers[0].Node.Graph != graph) return null;
        var add = readers[0].Node;
        string where = $"{matmul} → {add}";
        if (graph.MustKeepName(y)) return Skip(result, $"{where}: the MatMul output is a graph output");
        if ((graph.GetOpsetVersion("") ?? 1) < 7) return Skip(result, $"{where}: opset below 7 has no broadcasting Gemm");
        var b = graph.TryGetConstant(matmul.Inputs[1]);
        if (b is null || b.Dims.Count != 2) return Skip(result, $"{where}: B is not a constant matrix");
        if (b.DataType is not (1 or 10 or 11)) return Skip(result, $"{where}: Gemm on CPU needs float, float16 or double");
        if (Ranks.Of(graph, matmul.Inputs[0]) != 2) return Skip(result, $"{where}: A is not known to be a matrix");
        var bias = add.Inputs[0] == y ? add.Inputs[1] : add.Inputs[0];
        var c = graph.TryGetConstant(bias);
        long n = b.Dims[1];
        bool broadcastable = c is not null && c.DataType == b.DataType
            && ((c.Dims.Count == 1 && c.Dims[0] == n) || (c.Dims.Count == 2 && c.Dims[0] == 1 && c.Dims[1] == n));
        if (!broadcastable) return Skip(result, $"{where}: the added value is not a constant bias of shape [{n}] or [1, {n}]");
        return new Found(matmul, add, bias);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        var output = m.Add.Outputs[0];
        graph.CreateNode("Gemm", [m.MatMul.Inputs[0], m.MatMul.Inputs[1], m.Bias], [output], before: m.MatMul);
        graph.RemoveNodes([m.MatMul, m.Add]);
        return true;
    }
}
