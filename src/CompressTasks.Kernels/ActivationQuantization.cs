namespace CompressTasks.Kernels;

/// <summary>
/// Quantization parameters of activations and biases for QDQ models, as ONNX's <c>QuantizeLinear</c> and
/// ONNX Runtime's QLinearConv/QGemm expect them.
/// </summary>
/// <remarks>
/// <code>
///   activation, range [a, b] widened to contain 0, integer range [qmin, qmax] (uint8 0..255, int8 −128..127):
///     s = (b − a) / (qmax − qmin)      z = clamp(round(qmin − a / s), qmin, qmax)     (s = 1 for an all-zero range)
///   bias of Conv/Gemm, per output channel c:  s_b[c] = s_x · s_w[c],  z_b = 0,  q_b = round(b / s_b[c]) as int32
/// </code>
/// A range starting at 0 (a Relu's output) gives z = qmin exactly, so QuantizeLinear's saturation is the Relu:
/// ONNX Runtime then drops the Relu and fuses the quantized operator before it. Rounding is half to even.
/// </remarks>
public static class ActivationQuantization
{
    /// <summary>Scale and zero point for the range [<paramref name="min"/>, <paramref name="max"/>].</summary>
    public static (float Scale, int ZeroPoint) FromRange(float min, float max, bool signed)
    {
        int qmin = signed ? sbyte.MinValue : byte.MinValue, qmax = signed ? sbyte.MaxValue : byte.MaxValue;
        min = Math.Min(min, 0);
        max = Math.Max(max, 0);
        float scale = (max - min) / (qmax - qmin);
        if (!(scale > 0) || !float.IsFinite(scale)) return (1f, qmin);
        int zero = (int)Math.Clamp(MathF.Round(qmin - min / scale, MidpointRounding.ToEven), qmin, qmax);
        return (scale, zero);
    }

    /// <summary>
    /// Quantizes a bias to int32 with <c>scales[c] = inputScale · weightScales[c]</c> (one weight scale serves every
    /// channel when there is only one). Returns false, leaving <paramref name="destination"/> undefined, when a
    /// value does not fit in int32 (a tiny weight scale): the caller then keeps the bias in float.
    /// </summary>
    public static bool QuantizeBias(ReadOnlySpan<float> bias, float inputScale, ReadOnlySpan<float> weightScales, Span<int> destination, Span<float> scales)
    {
        if (destination.Length != bias.Length) throw new ArgumentException("one value per bias element", nameof(destination));
        if (weightScales.Length != 1 && weightScales.Length != bias.Length) throw new ArgumentException("one weight scale, or one per channel", nameof(weightScales));
        if (scales.Length != weightScales.Length) throw new ArgumentException("one bias scale per weight scale", nameof(scales));
        for (int c = 0; c < scales.Length; c++) scales[c] = inputScale * weightScales[c];
        for (int c = 0; c < bias.Length; c++)
        {
            double q = Math.Round(bias[c] / (double)scales[weightScales.Length == 1 ? 0 : c], MidpointRounding.ToEven);
            if (!(Math.Abs(q) <= int.MaxValue)) return false;
            destination[c] = (int)q;
        }
        return true;
    }
}
