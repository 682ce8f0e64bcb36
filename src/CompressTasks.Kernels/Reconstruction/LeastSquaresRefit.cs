using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Ridge least-squares refit of a layer whose inputs were removed (channel pruning of its producer; ThiNet, He et
/// al. 2017): the kept inputs S get new weights so that the layer's output matches the teacher's, Wᵀ x over all
/// inputs, on the calibration data whose second moment is H = Σ x xᵀ.
/// </summary>
/// <remarks>
/// <code>
///   min over W' of  Σ ‖W'ᵀ x_S − Wᵀ x‖² + λ ‖W'‖²   ⇒   (H_SS + λ I) W' = H_S· W,    λ = damp · mean(diag H_SS)
/// </code>
/// Solved by Cholesky in double (<see cref="Cholesky.FactorDamped"/>, so a singular H_SS stays solvable). When the
/// removed inputs are linear combinations of kept ones (x_R = A x_S) the teacher output is reproduced exactly, up to
/// the ridge: W' = W_S + Aᵀ W_R. Memory: |S|² + 2 |S| N doubles.
/// </remarks>
public static class LeastSquaresRefit
{
    /// <summary>
    /// Fits <paramref name="refit"/> [|kept|, N] (rows in the order of <paramref name="kept"/>) from the teacher's
    /// <paramref name="weights"/> [K, N] and <paramref name="hessian"/> [K, K]. Returns the damping fraction used.
    /// </summary>
    public static double Solve(ReadOnlySpan<double> hessian, ReadOnlySpan<float> weights, int rows, int columns,
        ReadOnlySpan<int> kept, double damp, Span<float> refit)
    {
        int k = rows, n = columns, s = kept.Length;
        if (hessian.Length != k * k || weights.Length != (long)k * n) throw new ArgumentException($"H must be [{k}, {k}] and W [{k}, {n}]");
        if (s < 1 || refit.Length != (long)s * n) throw new ArgumentException($"refit must be [{s}, {n}] with at least one kept input", nameof(refit));
        var a = ScratchBuffers.Rent<double>(s * s);
        var b = ScratchBuffers.Rent<double>(s * n + n);
        try
        {
            var system = a.AsSpan(0, s * s);
            var rhs = b.AsSpan(0, s * n);
            var wide = b.AsSpan(s * n, n);
            rhs.Clear();
            for (int p = 0; p < s; p++)
            {
                int row = kept[p];
                if ((uint)row >= (uint)k) throw new ArgumentOutOfRangeException(nameof(kept), row, $"inputs are 0…{k - 1}");
                for (int q = 0; q < s; q++) system[p * s + q] = hessian[row * k + kept[q]];
                // rhs[p] = Σ_j H[row, j] · W[j, ·]
                var target = rhs.Slice(p * n, n);
                for (int j = 0; j < k; j++)
                {
                    double h = hessian[row * k + j];
                    if (h == 0) continue;
                    TensorPrimitives.ConvertTruncating<float, double>(weights.Slice(j * n, n), wide);
                    TensorPrimitives.MultiplyAdd<double>(wide, h, target, target);
                }
            }
            double used = Cholesky.FactorDamped(system, s, damp);
            Cholesky.SolveLower(system, s, rhs, n);
            Cholesky.SolveLowerTransposed(system, s, rhs, n);
            TensorPrimitives.ConvertTruncating<double, float>(rhs, refit);
            return used;
        }
        finally
        {
            ScratchBuffers.Return(a);
            ScratchBuffers.Return(b);
        }
    }
}
