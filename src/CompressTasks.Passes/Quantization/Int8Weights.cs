using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Round-to-nearest int8 weights and their DequantizeLinear form, as quantize-int8, quantize-static and
/// quantize-dynamic store them: the codes, scales and zero points come from one place so the passes agree.
/// </summary>
internal static class Int8Weights
{
    /// <summary>A weight of <paramref name="dims"/> as [outer, channels, inner] around <paramref name="axis"/> (channels 1 per tensor, axis −1).</summary>
    public static (int Outer, int Channels, int Inner) View(long[] dims, int axis)
    {
        long outer = 1, inner = 1;
        for (int d = 0; d < dims.Length; d++)
        {
            if (axis < 0 || d > axis) inner *= dims[d];
            else if (d < axis) outer *= dims[d];
        }
        return ((int)outer, axis < 0 ? 1 : (int)dims[axis], (int)inner);
    }

    /// <summary>The constant's values quantized per slice along <paramref name="axis"/> (per tensor when −1), in its own layout.</summary>
    public static QuantizedWeight Nearest(Constant constant, int axis, bool symmetric)
    {
        var (outer, channels, inner) = View(constant.Dims.ToArray(), axis);
        return Quantize(constant.AsFloat(), outer, channels, inner, symmetric);
    }

    /// <summary>
    /// <paramref name="values"/> viewed as [outer, channels, inner], one scale per channel. Symmetric: int8 with zero
    /// point 0 and scale max|w|/127; else uint8 with a zero point from each channel's min/max onto [0, 255].
    /// <paramref name="reduceRange"/> narrows both to 7 bits (±63, 0..127).
    /// </summary>
    public static QuantizedWeight Quantize(ReadOnlySpan<float> values, int outer, int channels, int inner, bool symmetric, bool reduceRange = false)
    {
        var scales = new float[channels];
        var zeroPoints = new byte[channels];
        var quantized = new byte[values.Length];
        if (symmetric)
        {
            Int8Quantization.ComputeSymmetricScales(values, outer, inner, scales, reduceRange ? 63 : Int8Quantization.SymmetricMax);
            Int8Quantization.QuantizeSymmetric(values, scales, outer, inner, MemoryMarshal.Cast<byte, sbyte>(quantized.AsSpan()));
            return new QuantizedWeight(quantized, scales, zeroPoints, (int)TensorProto.Types.DataType.Int8);
        }
        int maximum = reduceRange ? 127 : Int8Quantization.AsymmetricMax;
        Int8Quantization.ComputeAsymmetricParameters(values, outer, inner, scales, zeroPoints, maximum);
        Int8Quantization.QuantizeAsymmetric(values, scales, zeroPoints, outer, inner, quantized, maximum);
        return new QuantizedWeight(quantized, scales, zeroPoints, (int)TensorProto.Types.DataType.Uint8);
    }

    /// <summary>
    /// The constant becomes &lt;name&gt;_quantized (+ _scale, and _zero_point when given) and a DequantizeLinear
    /// producing &lt;name&gt;, along <paramref name="axis"/> (per tensor when −1); quantize-static's int32 biases too.
    /// </summary>
    public static void ReplaceWithDequantize(Constant constant, int elementType, byte[] quantized, float[] scales, byte[]? zeroPoints, int axis)
    {
        var graph = constant.Graph;
        string name = constant.Name;
        long[] paramDims = axis < 0 ? [] : [scales.Length];
        var q = Weights.Add(graph, name + "_quantized", elementType, constant.Dims.ToArray(), quantized);
        var s = Weights.Add(graph, name + "_scale", (int)TensorProto.Types.DataType.Float, paramDims, MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var z = zeroPoints is null ? null : Weights.Add(graph, name + "_zero_point", elementType, paramDims, zeroPoints);
        Weights.ReplaceWithDequantize(constant, q, s, z,
            axis < 0 ? [] : [new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = axis }]);
    }
}
