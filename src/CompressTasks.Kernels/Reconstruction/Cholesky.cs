using System.Numerics;
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
/// stays solvable; the damping used is returned. The factorization and the triangular inverse are blocked
/// (<see cref="Block"/> columns): the bulk of the work, A₂₂ −= L₂₁ L₂₁ᵀ and the off-diagonal blocks of L⁻¹, is a
/// matrix product in <see cref="BlockedProduct"/>, shared out over threads by rows or column chunks. Every entry is
/// computed by one thread in a fixed order, so the same input gives the same bits. Both only write the lower
/// triangle until they succeed, so a failed factorization can be restarted from the untouched upper triangle
/// without a copy of the matrix.
/// </remarks>
public static partial class Cholesky
{
    /// <summary>Columns per block of the blocked factorization and inverse.</summary>
    internal const int Block = 64;

    // Below this many multiply-adds a loop stays on one thread.
    private const long ParallelWork = 1 << 18;

    /// <summary>
    /// Factors <paramref name="a"/> in place into its lower factor L (the strict upper triangle is zeroed, or left as
    /// it was with <paramref name="keepUpper"/>). Returns false at a non-positive pivot, leaving the lower triangle
    /// partly overwritten and the strict upper triangle as it was. Only the lower triangle is ever read.
    /// </summary>
    public static bool TryFactor(Span<double> a, int n, bool keepUpper = false)
    {
        Check(a.Length, n);
        var panel = ScratchBuffers.Rent<double>(Block * n);
        try
        {
            for (int j0 = 0; j0 < n; j0 += Block)
            {
                int j1 = Math.Min(n, j0 + Block), w = j1 - j0;
                if (!FactorDiagonalBlock(a, n, j0, j1)) return false;
                if (j1 == n) break;
                SolvePanel(a, n, j0, j1);
                // P[d, x] = L[j1 + x, j0 + d]: the panel transposed, so the update reads it along rows.
                int m = n - j1;
                for (int i = j1; i < n; i++)
                    for (int d = 0; d < w; d++) panel[d * m + i - j1] = a[i * n + j0 + d];
                UpdateTrailing(a, n, j0, j1, panel);
            }
        }
        finally
        {
            ScratchBuffers.Return(panel);
        }
        if (!keepUpper)
            for (int i = 0; i < n; i++) a.Slice(i * n + i + 1, n - i - 1).Clear();
        return true;
    }

    // The diagonal block [j0, j1) of an already updated A, unblocked (left-looking within the block).
    private static bool FactorDiagonalBlock(Span<double> a, int n, int j0, int j1)
    {
        for (int j = j0; j < j1; j++)
        {
            var rowJ = a.Slice(j * n + j0, j - j0);
            double d = a[j * n + j] - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(d > 0)) return false;
            double pivot = Math.Sqrt(d);
            a[j * n + j] = pivot;
            for (int i = j + 1; i < j1; i++)
                a[i * n + j] = (a[i * n + j] - TensorPrimitives.Dot<double>(a.Slice(i * n + j0, j - j0), rowJ)) / pivot;
        }
        return true;
    }

    // L₂₁ = A₂₁ L₁₁⁻ᵀ for the rows below the diagonal block, each row on its own.
    private static unsafe void SolvePanel(Span<double> a, int n, int j0, int j1)
    {
        fixed (double* p = a)
        {
            var m = new PinnedSpan<double>(p, a.Length);
            ForEach(j1, n, (long)(n - j1) * (j1 - j0) * (j1 - j0) / 2, i =>
            {
                var s = m.Span;
                for (int c = j0; c < j1; c++)
                    s[i * n + c] = (s[i * n + c] - TensorPrimitives.Dot<double>(s.Slice(i * n + j0, c - j0), s.Slice(c * n + j0, c - j0))) / s[c * n + c];
            });
        }
    }

    // A₂₂ −= L₂₁ L₂₁ᵀ on and below the diagonal, by quads of rows; the corner of each quad that reaches the
    // diagonal is done entry by entry so that nothing above the diagonal is written.
    private static unsafe void UpdateTrailing(Span<double> a, int n, int j0, int j1, double[] panel)
    {
        int w = j1 - j0, m = n - j1, quads = (m + 3) / 4;
        fixed (double* p = a)
        {
            var matrix = new PinnedSpan<double>(p, a.Length);
            ForEach(0, quads, (long)m * m * w / 2, q =>
            {
                var s = matrix.Span;
                int i = j1 + 4 * q, rows = Math.Min(4, n - i);
                int full = (i - j1) / BlockedProduct.Width * BlockedProduct.Width;
                BlockedProduct.MultiplySubtract(s.Slice(i * n + j1), n, s.Slice(i * n + j0), n, panel, m, rows, full, w);
                for (int r = i; r < i + rows; r++)
                    for (int x = j1 + full; x <= r; x++)
                    {
                        double sum = 0;
                        for (int d = 0; d < w; d++) sum += s[r * n + j0 + d] * panel[d * m + x - j1];
                        s[r * n + x] -= sum;
                    }
            });
        }
    }

    /// <summary>
    /// Factors <c>a + λ I</c> in place, λ = <paramref name="damp"/> · mean(diag a), raising λ tenfold until the
    /// factorization succeeds (at most 12 times). Returns the damp fraction used. A failed try is undone from the
    /// upper triangle and a saved diagonal, so no copy of the matrix is held.
    /// </summary>
    public static double FactorDamped(Span<double> a, int n, double damp) => FactorDamped(a, n, damp, keepUpper: false);

    private static double FactorDamped(Span<double> a, int n, double damp, bool keepUpper)
    {
        Check(a.Length, n);
        var diagonal = ScratchBuffers.Rent<double>(n);
        try
        {
            double mean = 0;
            for (int i = 0; i < n; i++) mean += diagonal[i] = a[i * n + i];
            double unit = DampingUnit(mean / n);
            double fraction = damp;
            for (int attempt = 0; ; attempt++)
            {
                for (int i = 0; i < n; i++) a[i * n + i] = diagonal[i] + fraction * unit;
                if (TryFactor(a, n, keepUpper)) return fraction;
                if (attempt == 12) throw new ArithmeticException($"matrix of order {n} is not positive definite even with damping {fraction}");
                for (int i = 1; i < n; i++)
                    for (int j = 0; j < i; j++) a[i * n + j] = a[j * n + i];
                fraction = fraction > 0 ? fraction * 10 : 1e-8;
            }
        }
        finally
        {
            ScratchBuffers.Return(diagonal);
        }
    }

    // What λ = damp · unit is measured in: the mean of H's diagonal, or 1 when that is not a positive number.
    private static double DampingUnit(double mean) => mean > 0 && double.IsFinite(mean) ? mean : 1;

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
    /// Replaces the symmetric matrix <paramref name="a"/> by the upper factor U of (a + λ I)⁻¹ = Uᵀ U, the factor
    /// GPTQ and SparseGPT propagate errors through; λ as in <see cref="FactorDamped"/>, whose result it returns.
    /// </summary>
    /// <remarks>
    /// With P the order reversal, P A P = L Lᵀ gives A⁻¹ = P L⁻ᵀ L⁻¹ P = Uᵀ U for U = P L⁻¹ P, which is upper
    /// triangular with a positive diagonal, so it is the Cholesky factor. Reversing both orders of a row-major
    /// matrix reverses its storage: one factorization and one triangular inverse, O(n³/3) each, in place.
    /// </remarks>
    public static double InverseUpperFactor(Span<double> a, int n, double damp) => InverseUpperFactor(a, n, damp, keepLower: false);

    /// <summary>
    /// As <see cref="InverseUpperFactor(Span{double}, int, double)"/>, but U goes into the upper triangle and the
    /// diagonal only: with <paramref name="keepLower"/>, the strict lower triangle of <paramref name="a"/> is left as
    /// it was, so one matrix holds both U and (with a saved diagonal) the H it came from.
    /// </summary>
    /// <remarks>
    /// In the reversed order A's strict lower triangle is the strict upper one, which the factorization and the
    /// inverse never read or write when asked to leave it.
    /// </remarks>
    public static double InverseUpperFactor(Span<double> a, int n, double damp, bool keepLower)
    {
        Check(a.Length, n);
        a.Reverse();
        double used = FactorDamped(a, n, damp, keepLower);
        InvertLower(a, n, keepLower);
        a.Reverse();
        return used;
    }

    /// <summary>
    /// Replaces the lower factor <paramref name="l"/> (zero above the diagonal, as <see cref="TryFactor"/> leaves it)
    /// by its inverse, also lower triangular. With <paramref name="ignoreUpper"/> the strict upper triangle may hold
    /// anything: it is neither read nor written.
    /// </summary>
    /// <remarks>
    /// By blocks of rows I = [i0, i1), with X = L⁻¹ already in rows before i0:
    /// <code>
    ///   X[I, 0..i0) = −L[I, I]⁻¹ · (L[I, 0..i0) · X[0..i0, 0..i0)),  X[I, I] = L[I, I]⁻¹
    /// </code>
    /// The product is computed by chunks of columns in parallel (X is lower triangular, so column chunk x only
    /// needs rows from x), followed by the forward substitution in the same chunk.
    /// </remarks>
    public static unsafe void InvertLower(Span<double> l, int n, bool ignoreUpper = false)
    {
        Check(l.Length, n);
        const int Chunk = 64, Depth = 256;
        var buffer = ScratchBuffers.Rent<double>(Block * n);
        try
        {
            fixed (double* p = l)
            {
                var matrix = new PinnedSpan<double>(p, l.Length);
                for (int i0 = 0; i0 < n; i0 += Block)
                {
                    int i1 = Math.Min(n, i0 + Block), w = i1 - i0;
                    if (i0 > 0)
                    {
                        // Y = −L[I, 0..i0) X[0..i0, 0..i0), row-major [w, i0] in the buffer; then Y ← L[I, I]⁻¹ Y.
                        var y = buffer;
                        int chunks = (i0 + Chunk - 1) / Chunk;
                        ForEach(0, chunks, (long)w * i0 * i0 / 2, c =>
                        {
                            var s = matrix.Span;
                            int x0 = c * Chunk, x1 = Math.Min(i0, x0 + Chunk), cols = x1 - x0;
                            for (int r = 0; r < w; r++) y.AsSpan(r * i0 + x0, cols).Clear();
                            int from = x0;
                            if (ignoreUpper)
                            {
                                // X's diagonal block [x0, x1)² has its zeros above the diagonal unwritten: only q ≥ x.
                                for (int r = 0; r < w; r++)
                                {
                                    var row = y.AsSpan(r * i0 + x0, cols);
                                    var lr = s.Slice((i0 + r) * n, n);
                                    for (int q = x0; q < x1; q++)
                                        TensorPrimitives.MultiplyAdd<double>(s.Slice(q * n + x0, q - x0 + 1), -lr[q], row[..(q - x0 + 1)], row[..(q - x0 + 1)]);
                                }
                                from = x1;
                            }
                            for (int d0 = from; d0 < i0; d0 += Depth)
                            {
                                int depth = Math.Min(Depth, i0 - d0);
                                BlockedProduct.MultiplySubtract(y.AsSpan(x0), i0, s.Slice(i0 * n + d0), n, s.Slice(d0 * n + x0), n, w, cols, depth);
                            }
                            SolveBlockRows<double>(y.AsSpan(x0), i0, cols, s, n, i0, w);
                        });
                        var t = matrix.Span;
                        for (int r = 0; r < w; r++) y.AsSpan(r * i0, i0).CopyTo(t.Slice((i0 + r) * n, i0));
                    }
                    InvertDiagonalBlock(matrix.Span, n, i0, i1);
                }
            }
        }
        finally
        {
            ScratchBuffers.Return(buffer);
        }
    }

    // Y ← L[I, I]⁻¹ Y by forward substitution, I = [i0, i0 + w) the block's rows of L (row-major, stride n) and Y the
    // block's w rows of `cols` columns (stride ldy): the step both triangular inverses take after their product.
    private static void SolveBlockRows<T>(Span<T> y, int ldy, int cols, ReadOnlySpan<T> l, int n, int i0, int w) where T : unmanaged, INumberBase<T>
    {
        for (int r = 0; r < w; r++)
        {
            var row = y.Slice(r * ldy, cols);
            for (int q = 0; q < r; q++)
                TensorPrimitives.MultiplyAdd<T>(y.Slice(q * ldy, cols), -l[(i0 + r) * n + i0 + q], row, row);
            TensorPrimitives.Divide<T>(row, l[(i0 + r) * n + i0 + r], row);
        }
    }

    // X[I, I] = L[I, I]⁻¹ in place, rows in order: X[r, s] = −(Σ_{s≤q<r} L[r, q] X[q, s]) / L[r, r], s increasing, so
    // the entries of row r still read as L are never overwritten before their last use.
    private static void InvertDiagonalBlock(Span<double> a, int n, int i0, int i1)
    {
        for (int r = i0; r < i1; r++)
        {
            double pivot = a[r * n + r];
            for (int s = i0; s < r; s++)
            {
                double sum = 0;
                for (int q = s; q < r; q++) sum += a[r * n + q] * a[q * n + s];
                a[r * n + s] = -sum / pivot;
            }
            a[r * n + r] = 1 / pivot;
        }
    }

    // Independent iterations: in parallel when the whole loop does enough work, each by one thread.
    private static void ForEach(int from, int to, long work, Action<int> body)
    {
        if (work < ParallelWork) for (int i = from; i < to; i++) body(i);
        else Parallel.For(from, to, body);
    }

    private static void Check(int length, int n)
    {
        if (n < 1 || length != n * n) throw new ArgumentException($"matrix must be [{n}, {n}]");
    }
}
