using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Bias correction (Nagel et al., 2019): the expected change of a layer's output when W [K, N] becomes Ŵ,
/// from the mean input μ, to be added to the bias so that the compressed layer's mean output is the teacher's.
/// <code>
///   y = Wᵀ x + b,  ŷ = Ŵᵀ x + b'    E[ŷ] = E[y]  ⇔  b' = b + (W − Ŵ)ᵀ μ
/// </code>
/// </summary>
public static class BiasCorrection
{
    /// <summary>
    /// <c>shift[c] = Σ_k (W[k, c] − Ŵ[k, c]) · μ[k]</c>, accumulated in double row by row (fixed order).
    /// Add it to the bias.
    /// </summary>
    public static void OutputShift(ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns,
        ReadOnlySpan<double> meanInput, Span<float> shift)
    {
        int n = columns;
        if (original.Length != (long)rows * n || compressed.Length != original.Length) throw new ArgumentException($"weights must be [{rows}, {n}]");
        if (meanInput.Length != rows || shift.Length != n) throw new ArgumentException($"mean input must have {rows} values and shift {n}");
        var buffer = ScratchBuffers.Rent<double>(2 * n);
        try
        {
            var total = buffer.AsSpan(0, n);
            var difference = buffer.AsSpan(n, n);
            total.Clear();
            for (int k = 0; k < rows; k++)
            {
                double mu = meanInput[k];
                if (mu == 0) continue;
                var a = original.Slice(k * n, n);
                var b = compressed.Slice(k * n, n);
                for (int c = 0; c < n; c++) difference[c] = (double)a[c] - b[c];
                TensorPrimitives.MultiplyAdd<double>(difference, mu, total, total);
            }
            TensorPrimitives.ConvertTruncating<double, float>(total, shift);
        }
        finally
        {
            ScratchBuffers.Return(buffer);
        }
    }
}
