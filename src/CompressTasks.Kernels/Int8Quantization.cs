using System.Buffers;
using System.Numerics.Tensors;

namespace CompressTasks.Kernels;

/// <summary>
/// Linear 8-bit quantization of float32 weights, per tensor or per channel, as ONNX's
/// <c>QuantizeLinear</c>/<c>DequantizeLinear</c> define it.
/// </summary>
/// <remarks>
/// Weights are viewed as [outer, channels, inner], with one scale (and zero point) per channel: a per-tensor
/// quantization is channels = 1; Conv weights [M, C, kH, kW] per output channel are outer = 1, inner = C·kH·kW;
/// MatMul weights [K, N] per output column are outer = K, inner = 1.
/// <code>
///   symmetric (int8):   s = max|w| / 127                       z = 0
///   asymmetric (uint8): s = (max(w, 0) − min(w, 0)) / 255      z = clamp(round(−min(w, 0) / s), 0, 255)
///   q = clamp(round(w / s) + z, lo, hi)      round half to even; [lo, hi] = [−127, 127] or [0, 255]
///   w' = (q − z) · s                          |w' − w| ≤ s/2 for every w inside the range
/// </code>
/// The asymmetric range always contains 0, so 0 is represented exactly (zero padding stays zero). A channel that
/// is all zeros gets scale 1, since a zero scale would be meaningless. Inputs must be finite: check with
/// <see cref="TensorPrimitives.MaxMagnitude(ReadOnlySpan{float})"/> first. Symmetric int8 leaves −128 unused, so
/// the range is the same on both sides (as ONNX Runtime's weight quantization does).
/// </remarks>
public static class Int8Quantization
{
    /// <summary>The largest magnitude of a symmetric int8 value (−128 is left out).</summary>
    public const int SymmetricMax = 127;

    /// <summary>The largest uint8 value.</summary>
    public const int AsymmetricMax = 255;

    /// <summary>
    /// Symmetric scales: <c>scales[c] = max|w[·, c, ·]| / maximum</c> (1 for an all-zero channel), maximum 127
    /// unless a narrower range is asked for (63: 7-bit "reduce range" weights). The channel count is
    /// <c>scales.Length</c>.
    /// </summary>
    public static void ComputeSymmetricScales(ReadOnlySpan<float> weights, int outer, int inner, Span<float> scales, int maximum = SymmetricMax)
    {
        Validate(weights.Length, outer, scales.Length, inner, weights.Length);
        ValidateMaximum(maximum, SymmetricMax);
        // max|w| per channel, accumulated in scales.
        Reduce(weights, outer, inner, scales, magnitude: true, max: true);
        for (int c = 0; c < scales.Length; c++)
            scales[c] = scales[c] > 0 ? scales[c] / maximum : 1f;
    }

    /// <summary>
    /// Asymmetric scales and uint8 zero points over each channel's range widened to include 0, onto [0, maximum]
    /// (255 unless a narrower range is asked for: 127 for 7-bit weights). The channel count is
    /// <c>scales.Length</c>, which <paramref name="zeroPoints"/> must match.
    /// </summary>
    public static void ComputeAsymmetricParameters(ReadOnlySpan<float> weights, int outer, int inner, Span<float> scales, Span<byte> zeroPoints, int maximum = AsymmetricMax)
    {
        Validate(weights.Length, outer, scales.Length, inner, weights.Length);
        ValidateMaximum(maximum, AsymmetricMax);
        if (zeroPoints.Length != scales.Length) throw new ArgumentException("one zero point per scale", nameof(zeroPoints));
        var buffer = ArrayPool<float>.Shared.Rent(scales.Length);
        try
        {
            var low = buffer.AsSpan(0, scales.Length);
            Reduce(weights, outer, inner, low, magnitude: false, max: false);
            Reduce(weights, outer, inner, scales, magnitude: false, max: true);
            for (int c = 0; c < scales.Length; c++)
            {
                // Reduce starts from 0, so low ≤ 0 ≤ high already: the range contains zero.
                float range = scales[c] - low[c];
                float scale = range > 0 ? range / maximum : 1f;
                scales[c] = scale;
                zeroPoints[c] = (byte)Math.Clamp(MathF.Round(-low[c] / scale, MidpointRounding.ToEven), 0, maximum);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary><c>destination = clamp(round(w / s[c]), −127, 127)</c> per channel.</summary>
    public static void QuantizeSymmetric(ReadOnlySpan<float> weights, ReadOnlySpan<float> scales, int outer, int inner, Span<sbyte> destination)
    {
        Validate(weights.Length, outer, scales.Length, inner, destination.Length);
        Quantize(weights, scales, default, outer, inner, -SymmetricMax, SymmetricMax, destination);
    }

    /// <summary><c>destination = clamp(round(w / s[c]) + z[c], 0, maximum)</c> per channel (maximum 255 by default).</summary>
    public static void QuantizeAsymmetric(ReadOnlySpan<float> weights, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints, int outer, int inner, Span<byte> destination, int maximum = AsymmetricMax)
    {
        Validate(weights.Length, outer, scales.Length, inner, destination.Length);
        ValidateMaximum(maximum, AsymmetricMax);
        if (zeroPoints.Length != scales.Length) throw new ArgumentException("one zero point per scale", nameof(zeroPoints));
        Quantize(weights, scales, zeroPoints, outer, inner, 0, maximum, destination);
    }

    /// <summary><c>destination = q · s[c]</c>: what <c>DequantizeLinear</c> computes for symmetric int8.</summary>
    public static void DequantizeSymmetric(ReadOnlySpan<sbyte> quantized, ReadOnlySpan<float> scales, int outer, int inner, Span<float> destination)
    {
        Validate(destination.Length, outer, scales.Length, inner, quantized.Length);
        TensorPrimitives.ConvertTruncating(quantized, destination);
        Scale(destination, scales, default, outer, inner);
    }

    /// <summary><c>destination = (q − z[c]) · s[c]</c>: what <c>DequantizeLinear</c> computes for uint8.</summary>
    public static void DequantizeAsymmetric(ReadOnlySpan<byte> quantized, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints, int outer, int inner, Span<float> destination)
    {
        Validate(destination.Length, outer, scales.Length, inner, quantized.Length);
        if (zeroPoints.Length != scales.Length) throw new ArgumentException("one zero point per scale", nameof(zeroPoints));
        TensorPrimitives.ConvertTruncating(quantized, destination);
        Scale(destination, scales, zeroPoints, outer, inner);
    }

    // Per channel: the max (or min) of w (or |w|), starting from 0, into result.
    private static void Reduce(ReadOnlySpan<float> weights, int outer, int inner, Span<float> result, bool magnitude, bool max)
    {
        int channels = result.Length;
        result.Clear();
        if (inner == 1)
        {
            // A channel is a column: combine whole rows element-wise.
            var buffer = magnitude ? ArrayPool<float>.Shared.Rent(channels) : null;
            try
            {
                for (int o = 0; o < outer; o++)
                {
                    var row = weights.Slice(o * channels, channels);
                    if (buffer is not null)
                    {
                        TensorPrimitives.Abs(row, buffer.AsSpan(0, channels));
                        row = buffer.AsSpan(0, channels);
                    }
                    if (max) TensorPrimitives.Max(result, row, result);
                    else TensorPrimitives.Min(result, row, result);
                }
            }
            finally
            {
                if (buffer is not null) ArrayPool<float>.Shared.Return(buffer);
            }
            return;
        }
        if (inner == 0) return;
        for (int o = 0; o < outer; o++)
        {
            for (int c = 0; c < channels; c++)
            {
                var block = weights.Slice((o * channels + c) * inner, inner);
                float value = magnitude ? Math.Abs(TensorPrimitives.MaxMagnitude(block)) : max ? TensorPrimitives.Max(block) : TensorPrimitives.Min(block);
                result[c] = max ? Math.Max(result[c], value) : Math.Min(result[c], value);
            }
        }
    }

    private static void Quantize<T>(ReadOnlySpan<float> weights, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints,
        int outer, int inner, float lo, float hi, Span<T> destination) where T : unmanaged, System.Numerics.INumberBase<T>
    {
        int channels = scales.Length;
        int length = inner == 1 ? channels : inner;
        var buffer = ArrayPool<float>.Shared.Rent(2 * length);
        try
        {
            var scratch = buffer.AsSpan(0, length);
            if (inner == 1)
            {
                // A channel is a column: divide whole rows by the scale vector, add the zero-point vector.
                var zero = buffer.AsSpan(length, length);
                if (zeroPoints.IsEmpty) zero.Clear();
                else TensorPrimitives.ConvertTruncating(zeroPoints, zero);
                for (int o = 0; o < outer; o++)
                {
                    TensorPrimitives.Divide(weights.Slice(o * channels, channels), scales, scratch);
                    TensorPrimitives.Round(scratch, scratch);
                    TensorPrimitives.Add(scratch, zero, scratch);
                    TensorPrimitives.Clamp(scratch, lo, hi, scratch);
                    TensorPrimitives.ConvertTruncating<float, T>(scratch, destination.Slice(o * channels, channels));
                }
                return;
            }
            if (inner == 0) return;
            for (int o = 0; o < outer; o++)
            {
                for (int c = 0; c < channels; c++)
                {
                    int at = (o * channels + c) * inner;
                    TensorPrimitives.Divide(weights.Slice(at, inner), scales[c], scratch);
                    TensorPrimitives.Round(scratch, scratch);
                    if (!zeroPoints.IsEmpty) TensorPrimitives.Add(scratch, (float)zeroPoints[c], scratch);
                    TensorPrimitives.Clamp(scratch, lo, hi, scratch);
                    TensorPrimitives.ConvertTruncating<float, T>(scratch, destination.Slice(at, inner));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    // values = (values − z[c]) · s[c], in place.
    private static void Scale(Span<float> values, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints, int outer, int inner)
    {
        int channels = scales.Length;
        if (inner == 1)
        {
            for (int o = 0; o < outer; o++)
            {
                var row = values.Slice(o * channels, channels);
                for (int k = 0; k < zeroPoints.Length; k++) row[k] -= zeroPoints[k];
                TensorPrimitives.Multiply(row, scales, row);
            }
            return;
        }
        if (inner == 0) return;
        for (int o = 0; o < outer; o++)
        {
            for (int c = 0; c < channels; c++)
            {
                var block = values.Slice((o * channels + c) * inner, inner);
                if (!zeroPoints.IsEmpty) TensorPrimitives.Subtract(block, (float)zeroPoints[c], block);
                TensorPrimitives.Multiply(block, scales[c], block);
            }
        }
    }

    private static void ValidateMaximum(int maximum, int widest)
    {
        if (maximum < 1 || maximum > widest) throw new ArgumentOutOfRangeException(nameof(maximum), maximum, $"the largest code must lie in [1, {widest}]");
    }

    private static void Validate(int weights, int outer, int channels, int inner, int other)
    {
        if (outer < 0 || inner < 0 || channels < 1) throw new ArgumentException($"bad view [{outer}, {channels}, {inner}]");
        if ((long)outer * channels * inner != weights || other != weights)
            throw new ArgumentException($"{weights} and {other} values do not both fill [{outer}, {channels}, {inner}]");
    }
}
