using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization.Static;

/// <summary>The graph edits of <c>quantize-static</c>: Q/DQ pairs on activations, DQ on weights and biases.</summary>
internal static class QdqWriter
{
    private const int Int8 = (int)TensorProto.Types.DataType.Int8;
    private const int Int32 = (int)TensorProto.Types.DataType.Int32;
    private const int Float = (int)TensorProto.Types.DataType.Float;

    /// <summary>
    /// <c>x ─▶ readers</c> becomes <c>x ─Q─▶ x_quantized ─DQ─▶ x_dequantized ─▶ readers</c> for the given readers
    /// only; x keeps its name, producer and other readers (graph outputs stay float).
    /// </summary>
    public static void QuantizeActivation(Graph graph, string name, float scale, int zeroPoint, int elementType, IReadOnlyList<NodeInput> readers)
    {
        var s = Weights.Add(graph, name + "_scale", Float, [], MemoryMarshal.AsBytes(new[] { scale }.AsSpan()).ToArray());
        var z = Weights.Add(graph, name + "_zero_point", elementType, [], new[] { unchecked((byte)zeroPoint) });
        string quantized = graph.FreshName(name + "_quantized"), dequantized = graph.FreshName(name + "_dequantized");
        var q = new NodeProto { OpType = "QuantizeLinear", Name = graph.FreshName(name + "_QuantizeLinear") };
        q.Input.Add([name, s.Name, z.Name]);
        q.Output.Add(quantized);
        var dq = new NodeProto { OpType = "DequantizeLinear", Name = graph.FreshName(name + "_DequantizeLinear") };
        dq.Input.Add([quantized, s.Name, z.Name]);
        dq.Output.Add(dequantized);
        int at = graph.GetProducer(name) is { } producer ? graph.PositionOf(producer) + 1 : 0;
        graph.Insert(at, q);
        graph.Insert(at + 1, dq);
        foreach (var use in readers) use.Node.SetInput(use.Index, dequantized);
    }

    /// <summary>
    /// Stores <paramref name="weight"/> as symmetric int8 (one scale per slice along <paramref name="axis"/>, or one
    /// per tensor when −1) behind a DequantizeLinear that produces the original name, so every reader and any
    /// sharing stay as they were. Returns the scales.
    /// </summary>
    public static float[] QuantizeWeight(Constant weight, int axis)
    {
        var quantized = Int8Weights.Nearest(weight, axis, symmetric: true);
        Int8Weights.ReplaceWithDequantize(weight, Int8, quantized.Values, quantized.Scales, quantized.ZeroPoints, axis);
        return quantized.Scales;
    }

    /// <summary>
    /// Stores a Conv/Gemm bias as int32 with scale x_scale · w_scale[c] and no zero point (what QLinearConv and
    /// QGemm take). False, with nothing changed, when a value would overflow int32.
    /// </summary>
    public static bool QuantizeBias(Constant bias, float inputScale, float[] weightScales)
    {
        var values = bias.AsFloat();
        var quantized = new int[values.Length];
        var scales = new float[weightScales.Length];
        if (!ActivationQuantization.QuantizeBias(values, inputScale, weightScales, quantized, scales)) return false;
        Int8Weights.ReplaceWithDequantize(bias, Int32, MemoryMarshal.AsBytes(quantized.AsSpan()).ToArray(), scales, null, weightScales.Length > 1 ? 0 : -1);
        return true;
    }
}
