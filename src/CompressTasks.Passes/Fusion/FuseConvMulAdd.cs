using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Folds a per-channel constant Mul or Add that follows a Conv into the Conv's weights and bias.
/// </summary>
/// <remarks>
/// <code>
///   x ─Conv(W, b)─▶ y ─Mul(m)─▶ z      ⇒      x ─Conv(W', b')─▶ z,   W'[c] = m[c]·W[c],  b'[c] = m[c]·b[c]
///   x ─Conv(W, b)─▶ y ─Add(a)─▶ z      ⇒      x ─Conv(W, b')─▶ z,    b'[c] = b[c] + a[c]
/// </code>
/// The decomposed BatchNormalization that exporters emit (Mul by a scale, then Add a shift) folds in two steps. This
/// is a separate pass from <c>fuse-conv-bn</c> because the operand is any constant whose broadcast touches only the
/// channel axis: shaped [C,1,…,1] or [1,C,1,…,1] (or a scalar), never wider than y, so the Add or Mul cannot grow the
/// output. Preconditions (each failure a skip): W (and b) are float constants read only by this Conv; the operand is a
/// float constant of that shape (it may be shared: it is only read); y is read only by the Mul/Add and is not a graph
/// output. Grouped Convs fold the same way (W's axis 0 is the output channel). z keeps its name.
/// </remarks>
public sealed class FuseConvMulAdd : PatternPass<FuseConvMulAdd.Found>
{
    public sealed record Found(Node Conv, Node Op, Constant Weight, Constant? Bias, float[] Operand);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-conv-mul-add", PassKind.Fusion,
        "Folds a per-channel constant Mul or Add after a Conv into its weights and bias.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Mul", "Add" };

    protected override Found? Match(Node op, PassArguments arguments, PassResult result)
    {
        var graph = op.Graph!;
        if (op.Inputs.Count != 2 || op.Outputs.Count != 1) return null;
        int side = graph.GetProducer(op.Inputs[0]) is { } p0 && p0.Is("Conv") ? 0 : 1;
        var conv = graph.GetProducer(op.Inputs[side]);
        if (conv is null || !conv.Is("Conv") || conv.Outputs.Count != 1) return null;
        var operand = graph.TryGetConstant(op.Inputs[1 - side]);
        if (operand is null) return null;
        string where = $"{conv} → {op}";
        if (graph.UseCount(conv.Outputs[0]) != 1 || graph.MustKeepName(conv.Outputs[0]))
            return Skip(result, $"{where}: the convolution's output is also read elsewhere or is a graph output");
        var weight = graph.TryGetConstant(conv.Inputs[1]);
        if (weight is null || weight.DataType != 1 || weight.Dims.Count < 3)
            return Skip(result, $"{where}: the weight is not a float constant");
        if (weight.UseCount != 1) return Skip(result, $"{where}: the weight '{weight.Name}' is shared with other nodes");
        Constant? bias = null;
        if (conv.Inputs.Count > 2 && conv.Inputs[2].Length > 0)
        {
            bias = graph.TryGetConstant(conv.Inputs[2]);
            if (bias is null || bias.DataType != 1 || bias.UseCount != 1)
                return Skip(result, $"{where}: the bias is not a float constant of its own");
        }
        long channels = weight.Dims[0];
        if (operand.DataType != 1 || !IsPerChannel(operand.Dims, weight.Dims.Count, channels))
            return Skip(result, $"{where}: the operand is not a float constant that broadcasts along the channel axis only");
        var values = operand.AsFloat();
        var perChannel = new float[channels];
        for (int c = 0; c < channels; c++) perChannel[c] = values[values.Length == 1 ? 0 : c];
        return new Found(conv, op, weight, bias, perChannel);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        int channels = m.Operand.Length;
        var bias = m.Bias?.AsFloat().ToArray() ?? new float[channels];
        if (m.Op.Is("Mul"))
        {
            var weights = m.Weight.AsFloat().ToArray();
            BatchNormFolding.ScaleChannels(weights, m.Operand, 1, weights.Length / channels);
            m.Weight.Replace(1, m.Weight.Dims.ToArray(), MemoryMarshal.AsBytes(weights.AsSpan()).ToArray());
            System.Numerics.Tensors.TensorPrimitives.Multiply(bias, m.Operand, bias);
        }
        else System.Numerics.Tensors.TensorPrimitives.Add(bias, m.Operand, bias);

        // A Mul of a Conv without bias keeps having none (zero times anything is zero).
        if (m.Bias is not null) m.Bias.Replace(1, [channels], MemoryMarshal.AsBytes(bias.AsSpan()).ToArray());
        else if (m.Op.Is("Add"))
        {
            var added = Weights.Add(graph, m.Conv.Name + "_bias", 1, [channels], MemoryMarshal.AsBytes(bias.AsSpan()).ToArray());
            while (m.Conv.Inputs.Count < 3) m.Conv.AddInput("");
            m.Conv.SetInput(2, added.Name);
        }
        var output = m.Op.Outputs[0];
        var operand = m.Op.Inputs[0] == m.Conv.Outputs[0] ? m.Op.Inputs[1] : m.Op.Inputs[0];
        graph.RemoveNode(m.Op);
        m.Conv.SetOutput(0, output);
        Weights.RemoveIfUnused(graph, operand);
        return true;
    }

    // Right-aligned against the Conv output [N, C, spatial…]: every dim is 1 except axis 1, which is 1 or C.
    private static bool IsPerChannel(IReadOnlyList<long> dims, int outputRank, long channels)
    {
        if (dims.Count > outputRank) return false;
        for (int i = 0; i < dims.Count; i++)
        {
            int axis = outputRank - dims.Count + i;
            if (dims[i] != 1 && !(axis == 1 && dims[i] == channels)) return false;
        }
        return true;
    }
}
