using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Folds an inference-mode BatchNormalization into the Gemm (or 2-D MatMul) that feeds it.
/// </summary>
/// <remarks>
/// <code>
///   A ─Gemm(B, C; α, β)─▶ y[M,N] ─BatchNormalization(γ, β', μ, σ²)─▶ z      ⇒      A ─Gemm(B', c'; α, 1)─▶ z
///   A[M,K] ─MatMul(B)─▶ y[M,N] ─BatchNormalization─▶ z                        ⇒      A ─Gemm(B', c')─▶ z
///   s = γ/√(σ² + ε),  B'[:, n] = s[n]·B[:, n],  c'[n] = s[n]·(β·C[n] − μ[n]) + β'[n]
/// </code>
/// BN normalizes axis 1 of its input, which for a matrix y[M,N] is N, the columns of B (rows when transB = 1).
/// Preconditions (each failure a skip with its reason): B is a float constant read only here (shared weights stay
/// shared); C is absent or a float constant of N values ([N], [1,N]) or a scalar; the BN parameters are float
/// constants with N values and it is in inference mode; y is read only by the BN and is not a graph output; a MatMul's
/// A is known to be a matrix (for a batched MatMul, BN's axis 1 is not the weight's column axis). z keeps its name.
/// </remarks>
public sealed class FuseBatchNormIntoGemm : PatternPass<FuseBatchNormIntoGemm.Found>
{
    public sealed record Found(Node Linear, Node BatchNorm, Constant Weight, bool TransB, float[] Bias, float[][] Parameters, double Epsilon);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-gemm-bn", PassKind.Fusion,
        "Folds inference BatchNormalization into the preceding Gemm or 2-D MatMul weights and bias.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "BatchNormalization" };

    protected override Found? Match(Node bn, PassArguments arguments, PassResult result)
    {
        var graph = bn.Graph!;
        if (bn.Inputs.Count < 5) return null;
        var linear = graph.GetProducer(bn.Inputs[0]);
        if (linear is null || !(linear.Is("Gemm") || linear.Is("MatMul")) || linear.Outputs.Count != 1) return null;
        string where = $"{linear} → {bn}";
        if (bn.Outputs.Count(o => o.Length > 0) != 1 || bn.GetInt("training_mode", 0) != 0 || bn.GetInt("spatial", 1) != 1)
            return Skip(result, $"{where}: BatchNormalization is not in inference mode");
        if (graph.UseCount(linear.Outputs[0]) != 1 || graph.MustKeepName(linear.Outputs[0]))
            return Skip(result, $"{where}: the product is also read elsewhere or is a graph output");
        if ((graph.GetOpsetVersion("") ?? 1) < 7) return Skip(result, $"{where}: opset below 7 has no broadcasting Gemm bias");
        if (linear.Is("MatMul") && Ranks.Of(graph, linear.Inputs[0]) != 2)
            return Skip(result, $"{where}: the MatMul input is not known to be a matrix");
        var weight = graph.TryGetConstant(linear.Inputs[1]);
        if (weight is null || weight.DataType != 1 || weight.Dims.Count != 2)
            return Skip(result, $"{where}: the weight is not a float constant matrix");
        if (weight.UseCount != 1) return Skip(result, $"{where}: the weight '{weight.Name}' is shared with other nodes");
        bool transB = linear.Is("Gemm") && linear.GetInt("transB", 0) != 0;
        int n = (int)weight.Dims[transB ? 0 : 1];
        var bias = new float[n];
        if (linear.Inputs.Count > 2 && linear.Inputs[2].Length > 0)
        {
            var c = graph.TryGetConstant(linear.Inputs[2]);
            bool perColumn = c is not null && c.DataType == 1 && (c.ElementCount == 1 && c.Dims.All(d => d == 1)
                || c.ElementCount == n && (c.Dims.Count == 1 || c.Dims.Count == 2 && c.Dims[0] == 1));
            if (!perColumn) return Skip(result, $"{where}: the Gemm bias is not a float constant with one value per column");
            var values = c!.AsFloat();
            float beta = linear.GetFloat("beta", 1f);
            for (int i = 0; i < n; i++) bias[i] = beta * values[values.Length == 1 ? 0 : i];
        }
        var parameters = new float[4][];
        for (int i = 0; i < 4; i++)
        {
            var p = graph.TryGetConstant(bn.Inputs[i + 1]);
            if (p is null || p.DataType != 1 || p.ElementCount != n)
                return Skip(result, $"{where}: BatchNormalization parameter '{bn.Inputs[i + 1]}' is not a float constant with {n} values");
            parameters[i] = p.AsFloat().ToArray();
        }
        return new Found(linear, bn, weight, transB, bias, parameters, bn.GetFloat("epsilon", 1e-5f));
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        var p = m.Parameters;
        var bias = m.Bias;
        var scale = BatchNormFolding.ComputeScale(p[0], p[1], p[2], p[3], m.Epsilon, bias);
        var weights = m.Weight.AsFloat().ToArray();
        int rows = (int)m.Weight.Dims[0], columns = (int)m.Weight.Dims[1];
        // transB: B is [N,K], channel axis 0 (outer 1, inner K); else [K,N], channel axis 1 (outer K, inner 1).
        if (m.TransB) BatchNormFolding.ScaleChannels(weights, scale, 1, columns);
        else BatchNormFolding.ScaleChannels(weights, scale, rows, 1);
        m.Weight.Replace(1, [rows, columns], MemoryMarshal.AsBytes(weights.AsSpan()).ToArray());
        var biasName = Weights.Add(graph, m.Linear.Name + "_bias", 1, [bias.Length], MemoryMarshal.AsBytes(bias.AsSpan()).ToArray()).Name;

        var output = m.BatchNorm.Outputs[0];
        var fused = graph.CreateNode("Gemm", [m.Linear.Inputs[0], m.Linear.Inputs[1], biasName], [output], before: m.Linear);
        foreach (var a in m.Linear.Proto.Attribute)
            if (a.Name is "alpha" or "transA" or "transB") fused.Proto.Attribute.Add(a.Clone());
        var dropped = m.BatchNorm.Inputs.Skip(1).Concat(m.Linear.Inputs.Skip(2)).ToArray();
        graph.RemoveNodes([m.Linear, m.BatchNorm]);
        foreach (var name in dropped) Weights.RemoveIfUnused(graph, name);
        return true;
    }
}
