using System.Buffers;
using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// The output error of a compressed linear layer on the calibration data, from the statistics alone:
/// <code>
///   Σ_x ‖(W − Ŵ)ᵀ x‖² = tr(Δᵀ H Δ),   Δ = W − Ŵ;     relative: tr(Δᵀ H Δ) / tr(Wᵀ H W)
/// </code>
/// (both summed over the samples H was accumulated from; divide by their count for a mean).
/// </summary>
public static class LayerError
{
    /// <summary>tr(Δᵀ H Δ) / tr(Wᵀ H W): the relative squared error of the layer output (0 when W is 0 on the data).</summary>
    public static double Relative(ReadOnlySpan<double> hessian, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns)
    {
        var (error, reference) = Terms(hessian, original, compressed, rows, columns);
        return reference > 0 ? error / reference : 0;
    }

    /// <summary>
    /// tr(Δᵀ H Δ) and tr(Wᵀ H W) apart, to be summed over layers that share an output (the groups of a grouped Conv)
    /// before dividing.
    /// </summary>
    public static (double Error, double Reference) Terms(ReadOnlySpan<double> hessian, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns)
    {
        int n = columns;
        if (original.Length != (long)rows * n || compressed.Length != original.Length || hessian.Length != rows * rows)
            throw new ArgumentException($"weights must be [{rows}, {n}] and H [{rows}, {rows}]");
        var buffer = LargeBuffers.Rent<double>(2 * rows * n);
        try
        {
            var w = buffer.AsSpan(0, rows * n);
            var d = buffer.AsSpan(rows * n, rows * n);
            TensorPrimitives.ConvertTruncating<float, double>(original, w);
            TensorPrimitives.ConvertTruncating<float, double>(compressed, d);
            TensorPrimitives.Subtract<double>(w, d, d);
            return (Quadratic(hessian, d, rows, n), Quadratic(hessian, w, rows, n));
        }
        finally
        {
            LargeBuffers.Return(buffer);
        }
    }

    // tr(Mᵀ H M) = Σ_{i, j} H[i, j] · ⟨M[i, ·], M[j, ·]⟩, rows of M contiguous.
    private static double Quadratic(ReadOnlySpan<double> h, ReadOnlySpan<double> m, int rows, int n)
    {
        double total = 0;
        for (int i = 0; i < rows; i++)
        {
            var mi = m.Slice(i * n, n);
            for (int j = 0; j < rows; j++)
            {
                double hij = h[i * rows + j];
                if (hij != 0) total += hij * TensorPrimitives.Dot<double>(mi, m.Slice(j * n, n));
            }
        }
        return total;
    }
}
