using System.Buffers;
using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Cholesky factorization of symmetric positive (semi-)definite matrices in double precision, row-major
/// [n, n], with damping for singular ones, triangular solves and the inverse factor GPTQ and SparseGPT use.
/// </summary>
/// <remarks>
/// <code>
///   A = L Lᵀ,  L[j, j] = √(A[j, j] − Σ_{k&lt;j} L[j, k]²),  L[i, j] = (A[i, j] − Σ_{k&lt;j} L[i, k] L[j, k]) / L[j, j]
///   damped: A + λ I with λ = damp · mean(diag A)  (λ = damp when the diagonal is all zero)
/// </code>
/// A second-moment matrix H = Σ x xᵀ is only semi-definite (fewer samples than features, constant or
/// duplicated inputs): damping makes it definite. When the factorization still meets a non-positive pivot
/// (rounding), the damping is multiplied by 10 and the factorization retried, so a singular H always
/// stays solvable; the damping used is returned. The factorization runs on one thread; the two middle steps of
/// <see cref="InverseUpperFactor"/> share independent rows out over threads for large n. Every entry is computed by
/// one thread in a fixed order, so the same input gives the same bits.
/// </remarks>
public static class Cholesky
{
    /// <summary>
    /// Factors <paramref name="a"/> in place into its lower factor L (the strict upper triangle is zeroed).
    /// Returns false, leaving <paramref name="a"/> partly overwritten, at a non-positive pivot.
    /// </summary>
    public static bool TryFactor(Span<double> a, int n)
    {
        Check(a.Length, n);
        for (int j = 0; j < n; j++)
        {
            var rowJ = a.Slice(j * n, j);
            double d = a[j * n + j] - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(d > 0)) return false;
            double pivot = Math.Sqrt(d);
            a[j * n + j] = pivot;
            for (int i = j + 1; i < n; i++)
                a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(a.Slice(i * n, j), a.Slice(j * n, j))) / pivot;
        }
        for (int i = 0; i < n; i++) a.Slice(i * n + i + 1, n - i - 1).Clear();
        return true;
    }

    // Below this many multiply-adds a loop stays on one thread.
    private const long ParallelWork = 1 << 16;

    /// <summary>
    /// Factors <c>a + λ I</c> in place, λ = <paramref name="damp"/> · mean(diag a), raising λ tenfold until the
    /// factorization succeeds (at most 12 times). Returns the damp fraction used.
    /// </summary>
    public static double FactorDamped(Span<double> a, int n, double damp)
    {
        Check(a.Length, n);
        double mean = 0;
        for (int i = 0; i < n; i++) mean += a[i * n + i];
        mean /= n;
        double unit = mean > 0 && double.IsFinite(mean) ? mean : 1;
        var copy = LargeBuffers.Rent<double>(n * n);
        try
        {
            a.CopyTo(copy);
            double fraction = damp;
            for (int attempt = 0; ; attempt++)
            {
                for (int i = 0; i < n; i++) a[i * n + i] += fraction * unit;
                if (TryFactor(a, n)) return fraction;
                if (attempt == 12) throw new ArithmeticException($"matrix of order {n} is not positive definite even with damping {fraction}");
                copy.AsSpan(0, n * n).CopyTo(a);
                fraction = fraction > 0 ? fraction * 10 : 1e-8;
            }
        }
        finally
        {
            LargeBuffers.Return(copy);
        }
    }

    /// <summary>Solves L X = B in place (forward substitution); B is [n, columns] row-major.</summary>
    public static void SolveLower(ReadOnlySpan<double> l, int n, Span<double> b, int columns)
    {
        Check(l.Length, n);
        if (b.Length != n * columns) throw new ArgumentException($"right-hand side must be [{n}, {columns}]", nameof(b));
        for (int i = 0; i < n; i++)
        {
            var row = b.Slice(i * columns, columns);
            for (int k = 0; k < i; k++)
            {
                double f = l[i * n + k];
                if (f != 0) TensorPrimitives.MultiplyAdd<double>(b.Slice(k * columns, columns), -f, row, row);
            }
            TensorPrimitives.Divide<double>(row, l[i * n + i], row);
        }
    }

    /// <summary>Solves Lᵀ X = B in place (back substitution); B is [n, columns] row-major.</summary>
    public static void SolveLowerTransposed(ReadOnlySpan<double> l, int n, Span<double> b, int columns)
    {
        Check(l.Length, n);
        if (b.Length != n * columns) throw new ArgumentException($"right-hand side must be [{n}, {columns}]", nameof(b));
        for (int i = n - 1; i >= 0; i--)
        {
            var row = b.Slice(i * columns, columns);
            for (int k = i + 1; k < n; k++)
            {
                double f = l[k * n + i];
                if (f != 0) TensorPrimitives.MultiplyAdd<double>(b.Slice(k * columns, columns), -f, row, row);
            }
            TensorPrimitives.Divide<double>(row, l[i * n + i], row);
        }
    }

    /// <summary>
    /// Replaces the lower factor L of A (as <see cref="TryFactor"/> leaves it) by the upper factor U of A⁻¹,
    /// A⁻¹ = Uᵀ U: the factor GPTQ and SparseGPT propagate errors through. Three O(n³/3) steps: T = L⁻ᵀ,
    /// A⁻¹ = T Tᵀ, U = chol(A⁻¹)ᵀ.
    /// </summary>
    public static void InverseUpperFactor(Span<double> l, int n)
    {
        Check(l.Length, n);
        var buffer = LargeBuffers.Rent<double>(2 * n * n);
        try
        {
            // T = (L⁻¹)ᵀ, upper: row c of T is column c of L⁻¹, from L x = e_c (x[i] = 0 for i < c).
            var t = buffer.AsSpan(0, n * n);
            t.Clear();
            var factor = l.ToArray();
            var work = buffer;
            ForRows(n, c =>
            {
                var x = work.AsSpan(c * n, n);
                x[c] = 1 / factor[c * n + c];
                for (int i = c + 1; i < n; i++)
                    x[i] = -TensorPrimitives.Dot<double>(factor.AsSpan(i * n + c, i - c), x.Slice(c, i - c)) / factor[i * n + i];
            });
            // A⁻¹ = L⁻ᵀ L⁻¹ = T Tᵀ: (i, j) = Σ_{k ≥ max(i, j)} T[i, k] T[j, k].
            ForRows(n, i =>
            {
                for (int j = 0; j <= i; j++)
                {
                    double v = TensorPrimitives.Dot<double>(work.AsSpan(i * n + i, n - i), work.AsSpan(j * n + i, n - i));
                    work[n * n + i * n + j] = v;
                    work[n * n + j * n + i] = v;
                }
            });
            var inverse = buffer.AsSpan(n * n, n * n);
            if (!TryFactor(inverse, n)) throw new ArithmeticException("the inverse of a positive definite matrix lost definiteness to rounding");
            // U = Lᵢₙᵥᵀ.
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++)
                    l[i * n + j] = j >= i ? inverse[j * n + i] : 0;
        }
        finally
        {
            LargeBuffers.Return(buffer);
        }
    }

    // Rows (or columns) that are independent of each other: in parallel for large n, each by one thread.
    private static void ForRows(int n, Action<int> body)
    {
        if ((long)n * n * n < ParallelWork * 64) for (int i = 0; i < n; i++) body(i);
        else Parallel.For(0, n, body);
    }

    private static void Check(int length, int n)
    {
        if (n < 1 || length != n * n) throw new ArgumentException($"matrix must be [{n}, {n}]");
    }
}
