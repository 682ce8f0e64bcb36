using System.Numerics.Tensors;

namespace CompressTasks.Kernels;

/// <summary>
/// Folds an inference-mode BatchNormalization into the linear layer before it.
/// </summary>
/// <remarks>
/// BN(y) = γ·(y − μ)/√(σ² + ε) + β. With s = γ/√(σ² + ε) per channel c and y = W·x + b:
/// <code>
///   W'[c] = s[c]·W[c]            b'[c] = s[c]·(b[c] − μ[c]) + β[c]
/// </code>
/// The scale is computed in double and rounded once, so folding does not add error beyond the final float rounding.
/// </remarks>
public static class BatchNormFolding
{
    /// <summary>s[c] = γ[c]/√(var[c] + ε) and the folded bias, for <paramref name="bias"/> (in/out, zeros when the layer had none).</summary>
    public static float[] ComputeScale(
        ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, ReadOnlySpan<float> mean, ReadOnlySpan<float> variance,
        double epsilon, Span<float> bias)
    {
        int channels = gamma.Length;
        if (beta.Length != channels || mean.Length != channels || variance.Length != channels || bias.Length != channels)
            throw new ArgumentException("gamma, beta, mean, variance and bias must have one value per channel");
        var scale = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            double s = gamma[c] / Math.Sqrt(variance[c] + epsilon);
            scale[c] = (float)s;
            bias[c] = (float)(s * (bias[c] - (double)mean[c]) + beta[c]);
        }
        return scale;
    }

    /// <summary>
    /// Multiplies each channel of <paramref name="weights"/> by its scale. The weights are viewed as
    /// [outer, channels, inner]: Conv/Gemm(transB) weights have outer = 1 (channel axis 0); ConvTranspose
    /// weights [C_in, C_out/g, ...] have the channel axis at 1; MatMul weights [K, N] have inner = 1.
    /// </summary>
    public static void ScaleChannels(Span<float> weights, ReadOnlySpan<float> scale, int outer, int inner)
    {
        int channels = scale.Length;
        if ((long)outer * channels * inner != weights.Length)
            throw new ArgumentException($"weights have {weights.Length} values, not {outer}×{channels}×{inner}");
        if (inner == 1)
        {
            for (int o = 0; o < outer; o++)
            {
                var row = weights.Slice(o * channels, channels);
                TensorPrimitives.Multiply(row, scale, row);
            }
            return;
        }
        for (int o = 0; o < outer; o++)
        {
            for (int c = 0; c < channels; c++)
            {
                var block = weights.Slice((o * channels + c) * inner, inner);
                TensorPrimitives.Multiply(block, scale[c], block);
            }
        }
    }
}
