using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Folds an inference-mode BatchNormalization into the Conv (or group-1 ConvTranspose) that feeds it.
/// </summary>
/// <remarks>
/// <code>
///   x ─Conv(W, b)─▶ y ─BatchNormalization(γ, β, μ, σ²)─▶ z      ⇒      x ─Conv(W', b')─▶ z
///   s = γ/√(σ² + ε),  W'[c] = s[c]·W[c],  b'[c] = s[c]·(b[c] − μ[c]) + β[c]
/// </code>
/// Preconditions (each failure is a skip with its reason): W, b and the BN parameters are float constants;
/// W and b are read by this Conv only (shared weights stay shared and unchanged); y is read by the BN only
/// and is not a graph output; the BN is in inference mode (one output, training_mode 0, spatial 1).
/// z keeps its name, so graph outputs and later readers are untouched.
/// </remarks>
public sealed class FuseBatchNormIntoConv : PatternPass<FuseBatchNormIntoConv.Found>
{
    public sealed record Found(Node Conv, Node BatchNorm, Constant Weight, Constant? Bias, float[] Gamma, float[] Beta, float[] Mean, float[] Variance, double Epsilon, int ChannelAxis);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-conv-bn", PassKind.Fusion,
        "Folds inference BatchNormalization into the preceding Conv/ConvTranspose weights and bias.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "BatchNormalization" };

    protected override Found? Match(Node bn, PassArguments arguments, PassResult result)
    {
        var graph = bn.Graph!;
        if (bn.Inputs.Count < 5) return null;
        var producer = graph.GetProducer(bn.Inputs[0]);
        if (producer is null || !(producer.Is("Conv") || producer.Is("ConvTranspose")) || producer.Outputs.Count != 1) return null;
        string where = $"{producer} → {bn}";
        if (bn.Outputs.Count(o => o.Length > 0) != 1 || bn.GetInt("training_mode", 0) != 0 || bn.GetInt("spatial", 1) != 1)
            return Skip(result, $"{where}: BatchNormalization is not in inference mode");
        if (graph.UseCount(producer.Outputs[0]) != 1 || graph.MustKeepName(producer.Outputs[0]))
            return Skip(result, $"{where}: the convolution's output is also read elsewhere or is a graph output");
        var weight = graph.TryGetConstant(producer.Inputs[1]);
        if (weight is null || weight.DataType != 1 || weight.Dims.Count < 3)
            return Skip(result, $"{where}: the weight is not a float constant");
        if (weight.UseCount != 1)
            return Skip(result, $"{where}: the weight '{weight.Name}' is shared with other nodes");
        Constant? bias = null;
        if (producer.Inputs.Count > 2 && producer.Inputs[2].Length > 0)
        {
            bias = graph.TryGetConstant(producer.Inputs[2]);
            if (bias is null || bias.DataType != 1 || bias.UseCount != 1)
                return Skip(result, $"{where}: the bias is not a float constant of its own");
        }
        int axis = producer.Is("Conv") ? 0 : 1;
        if (axis == 1 && producer.GetInt("group", 1) != 1)
            return Skip(result, $"{where}: grouped ConvTranspose is not folded");
        var parameters = new float[4][];
        for (int i = 0; i < 4; i++)
        {
            var c = graph.TryGetConstant(bn.Inputs[i + 1]);
            if (c is null || c.DataType != 1 || c.ElementCount != weight.Dims[axis])
                return Skip(result, $"{where}: BatchNormalization parameter '{bn.Inputs[i + 1]}' is not a float constant with one value per channel");
            parameters[i] = c.AsFloat().ToArray();
        }
        return new Found(producer, bn, weight, bias, parameters[0], parameters[1], parameters[2], parameters[3], bn.GetFloat("epsilon", 1e-5f), axis);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        int channels = m.Gamma.Length;
        var bias = m.Bias?.AsFloat().ToArray() ?? new float[channels];
        var scale = BatchNormFolding.ComputeScale(m.Gamma, m.Beta, m.Mean, m.Variance, m.Epsilon, bias);
        var weights = m.Weight.AsFloat().ToArray();
        long inner = 1;
        for (int d = m.ChannelAxis + 1; d < m.Weight.Dims.Count; d++) inner *= m.Weight.Dims[d];
        int outer = (int)(weights.Length / (channels * inner));
        BatchNormFolding.ScaleChannels(weights, scale, outer, (int)inner);

        m.Weight.Replace(1, m.Weight.Dims.ToArray(), MemoryMarshal.AsBytes(weights.AsSpan()).ToArray());
        var biasBytes = MemoryMarshal.AsBytes(bias.AsSpan()).ToArray();
        if (m.Bias is not null) m.Bias.Replace(1, [channels], biasBytes);
        else
        {
            var added = Weights.Add(graph, m.Conv.Name + "_bias", 1, [channels], biasBytes);
            while (m.Conv.Inputs.Count < 3) m.Conv.AddInput("");
            m.Conv.SetInput(2, added.Name);
        }

        // The convolution now produces the BN's output name directly.
        var bnInputs = m.BatchNorm.Inputs.Skip(1).ToArray();
        var output = m.BatchNorm.Outputs[0];
        graph.RemoveNode(m.BatchNorm);
        m.Conv.SetOutput(0, output);
        foreach (var name in bnInputs) Weights.RemoveIfUnused(graph, name);
        return true;
    }
}
