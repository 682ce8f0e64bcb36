using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>The inverse factor of a float32 <see cref="SymmetricMatrix"/>, in place, touching one triangle only.</summary>
/// <remarks>
/// The storage holds the lower triangle of R = J H J (J the order reversal). R + λ I = L Lᵀ and then L⁻¹ in place are
/// what <see cref="InverseUpperFactor(Span{double}, int, double)"/> does after reversing its storage, so the indexer then
/// reads U = J L⁻¹ J, the upper factor of (H + λ I)⁻¹, in H's order. Both steps are the blocked algorithms of the double
/// code restricted to the lower triangle: nothing above R's diagonal is ever read or written, not even on a failed
/// try, because those pages are never backed.
/// <para>
/// Precision: the bulk (A₂₂ −= L₂₁ L₂₁ᵀ and the off-diagonal blocks of L⁻¹) multiplies and accumulates in float, as
/// single-precision Cholesky does everywhere (GPTQ's reference runs it in float32 too). Double sums there would halve
/// the vector width, and so the speed, while buying little: every trailing entry is rounded to float storage after
/// each of the n / <see cref="Block"/> panel updates anyway, and H itself arrived in float. The cheap O(n · Block²)
/// parts that set the pivots, the diagonal blocks' factorization and inverse and the panel solve, run in double on
/// small copies.
/// </para>
/// </remarks>
public static partial class Cholesky
{
    /// <summary>
    /// Replaces <paramref name="h"/> by the upper factor U of (H + λ I)⁻¹ = Uᵀ U, read through its indexer in H's order
    /// (i ≤ j); λ = <paramref name="damp"/> · mean(diag H), raised tenfold until the factorization succeeds (at most 12
    /// times), as for the double matrix. Returns the damp fraction used.
    /// </summary>
    /// <remarks>
    /// A failed try is undone from the factor it left (<see cref="Restore"/>): there is no other triangle to restart
    /// from. On <see cref="ArithmeticException"/> <paramref name="h"/> holds H again, up to float rounding.
    /// </remarks>
    public static double InverseUpperFactor(SymmetricMatrix h, double damp) => InverseUpperFactor(h, damp, out _);

    /// <summary>As <see cref="InverseUpperFactor(SymmetricMatrix, double)"/>; <paramref name="lambda"/> is the λ added.</summary>
    internal static unsafe double InverseUpperFactor(SymmetricMatrix h, double damp, out double lambda)
    {
        ArgumentNullException.ThrowIfNull(h);
        int n = h.Order;
        var matrix = new PinnedSpan<float>(h.Pointer, n * n);
        var s = matrix.Span;
        var diagonal = ScratchBuffers.Rent<double>(n);
        try
        {
            double mean = 0;
            for (int i = 0; i < n; i++) mean += diagonal[i] = s[i * n + i];
            double unit = DampingUnit(mean / n);
            double fraction = damp;
            for (int attempt = 0; ; attempt++)
            {
                for (int i = 0; i < n; i++) s[i * n + i] = (float)(diagonal[i] + fraction * unit);
                int failed = TryFactor(matrix, n);
                if (failed < 0) break;
                Restore(s, n, failed);
                if (attempt == 12)
                {
                    for (int i = 0; i < n; i++) s[i * n + i] = (float)diagonal[i];
                    throw new ArithmeticException($"matrix of order {n} is not positive definite even with damping {fraction}");
                }
                fraction = fraction > 0 ? fraction * 10 : 1e-8;
            }
            InvertLower(matrix, n);
            lambda = fraction * unit;
            return fraction;
        }
        finally
        {
            ScratchBuffers.Return(diagonal);
        }
    }

    // Blocked right-looking factorization of R's lower triangle. Returns −1, or the first column of the diagonal block
    // whose pivot was not positive; that block is factored on a copy, so a failure leaves columns before it holding L
    // and the rest holding A minus the updates of the panels before it, which Restore undoes.
    private static int TryFactor(PinnedSpan<float> matrix, int n)
    {
        var panel = ScratchBuffers.Rent<float>(Block * n);
        var block = ScratchBuffers.Rent<double>(Block * Block);
        try
        {
            for (int j0 = 0; j0 < n; j0 += Block)
            {
                int j1 = Math.Min(n, j0 + Block), w = j1 - j0;
                var s = matrix.Span;
                var diagonalBlock = block.AsSpan(0, w * w);
                CopyDiagonalBlock(s, n, j0, w, diagonalBlock);
                if (!FactorDiagonalBlock(diagonalBlock, w, 0, w)) return j0;
                // The panel solve uses L₁₁ as stored, rounded to float, so that L Lᵀ stays consistent with A.
                for (int r = 0; r < w; r++)
                    for (int c = 0; c <= r; c++) diagonalBlock[r * w + c] = s[(j0 + r) * n + j0 + c] = (float)diagonalBlock[r * w + c];
                if (j1 == n) break;
                SolvePanel(matrix, n, j0, j1, block, panel);
                UpdateTrailing(matrix, n, j0, j1, panel);
            }
            return -1;
        }
        finally
        {
            ScratchBuffers.Return(panel);
            ScratchBuffers.Return(block);
        }
    }

    // The lower triangle of the diagonal block [j0, j0 + w)² into a double [w, w] (its upper triangle is left as is).
    private static void CopyDiagonalBlock(Span<float> s, int n, int j0, int w, Span<double> block)
    {
        for (int r = 0; r < w; r++)
            for (int c = 0; c <= r; c++) block[r * w + c] = s[(j0 + r) * n + j0 + c];
    }

    // L₂₁ = A₂₁ L₁₁⁻ᵀ row by row in double (L₁₁ the double [w, w] block), also written transposed into the panel the
    // update reads along rows: P[d, x] = L[j1 + x, j0 + d].
    private static void SolvePanel(PinnedSpan<float> matrix, int n, int j0, int j1, double[] block, float[] panel)
    {
        int w = j1 - j0, m = n - j1;
        ForEach(j1, n, (long)m * w * w / 2, i =>
        {
            var s = matrix.Span;
            Span<double> row = stackalloc double[Block];
            row = row[..w];
            for (int c = 0; c < w; c++)
            {
                double v = (s[i * n + j0 + c] - TensorPrimitives.Dot<double>(row[..c], block.AsSpan(c * w, c))) / block[c * w + c];
                float rounded = (float)v;
                row[c] = rounded;
                s[i * n + j0 + c] = rounded;
                panel[c * m + i - j1] = rounded;
            }
        });
    }

    // A₂₂ −= L₂₁ L₂₁ᵀ on and below the diagonal by quads of rows, as for doubles: the corner of each quad that reaches
    // the diagonal is done entry by entry, so nothing above it is read or written.
    private static void UpdateTrailing(PinnedSpan<float> matrix, int n, int j0, int j1, float[] panel)
    {
        int w = j1 - j0, m = n - j1, quads = (m + 3) / 4, width = BlockedProduct.TileWidth<float>();
        ForEach(0, quads, (long)m * m * w / 2, q =>
        {
            var s = matrix.Span;
            int i = j1 + 4 * q, rows = Math.Min(4, n - i);
            int full = (i - j1) / width * width;
            BlockedProduct.MultiplySubtract<float>(s.Slice(i * n + j1), n, s.Slice(i * n + j0), n, panel, m, rows, full, w);
            for (int r = i; r < i + rows; r++)
                for (int x = j1 + full; x <= r; x++)
                {
                    float sum = 0;
                    for (int d = 0; d < w; d++) sum += s[r * n + j0 + d] * panel[d * m + x - j1];
                    s[r * n + x] -= sum;
                }
        });
    }

    /// <summary>
    /// Undoes a factorization that stopped at the diagonal block starting at column <paramref name="j0"/>: the trailing
    /// part gets back the panels' updates, A[i, x] += Σ_{d &lt; j0} L[i, d] L[x, d] (x ≥ j0), and the factored columns
    /// become L Lᵀ again, A[i, x] = Σ_{d ≤ x} L[i, d] L[x, d] (x &lt; j0).
    /// </summary>
    /// <remarks>
    /// Rows bottom-up and, within a row, the trailing part first and then the factored columns right to left: every
    /// entry of L is read before it is overwritten. Single-threaded; a rare path. Sums in float: the restored H is off
    /// by rounding, which the retry's larger damping covers.
    /// </remarks>
    private static void Restore(Span<float> s, int n, int j0)
    {
        for (int i = n - 1; i >= 0; i--)
        {
            var row = s.Slice(i * n, i + 1);
            for (int x = j0; x <= i; x++) row[x] += TensorPrimitives.Dot<float>(row[..j0], s.Slice(x * n, j0));
            for (int x = Math.Min(i, j0 - 1); x >= 0; x--) row[x] = TensorPrimitives.Dot<float>(row[..(x + 1)], s.Slice(x * n, x + 1));
        }
    }

    // L⁻¹ in place by blocks of rows, as InvertLower does for doubles: with X = L⁻¹ in rows before i0,
    // X[I, 0..i0) = −L[I, I]⁻¹ · (L[I, 0..i0) · X[0..i0, 0..i0)), X[I, I] = L[I, I]⁻¹.
    private static void InvertLower(PinnedSpan<float> matrix, int n)
    {
        const int Chunk = 64, Depth = 256;
        var y = ScratchBuffers.Rent<float>(Block * n);
        var block = ScratchBuffers.Rent<double>(Block * Block);
        try
        {
            for (int i0 = 0; i0 < n; i0 += Block)
            {
                int i1 = Math.Min(n, i0 + Block), w = i1 - i0;
                if (i0 > 0)
                {
                    // Y = −L[I, 0..i0) X[0..i0, 0..i0), [w, i0] in y, by chunks of columns; then Y ← L[I, I]⁻¹ Y.
                    int chunks = (i0 + Chunk - 1) / Chunk;
                    ForEach(0, chunks, (long)w * i0 * i0 / 2, c =>
                    {
                        var s = matrix.Span;
                        int x0 = c * Chunk, x1 = Math.Min(i0, x0 + Chunk), cols = x1 - x0, depth = i0 - x0;
                        // X[x0..i0, x0..x1) copied contiguous, with zeros above X's diagonal (R's unbacked triangle): the
                        // product then reads it as one dense block, from the cache instead of n-strided pages.
                        var packed = ScratchBuffers.Rent<float>(depth * cols);
                        try
                        {
                            for (int q = 0; q < depth; q++)
                            {
                                var target = packed.AsSpan(q * cols, cols);
                                int known = Math.Min(cols, q + 1);
                                s.Slice((x0 + q) * n + x0, known).CopyTo(target);
                                target[known..].Clear();
                            }
                            for (int r = 0; r < w; r++) y.AsSpan(r * i0 + x0, cols).Clear();
                            for (int d0 = 0; d0 < depth; d0 += Depth)
                                BlockedProduct.MultiplySubtract<float>(y.AsSpan(x0), i0, s.Slice(i0 * n + x0 + d0), n, packed.AsSpan(d0 * cols), cols, w, cols, Math.Min(Depth, depth - d0));
                        }
                        finally
                        {
                            ScratchBuffers.Return(packed);
                        }
                        SolveBlockRows<float>(y.AsSpan(x0), i0, cols, s, n, i0, w);
                    });
                    var t = matrix.Span;
                    for (int r = 0; r < w; r++) y.AsSpan(r * i0, i0).CopyTo(t.Slice((i0 + r) * n, i0));
                }
                // X[I, I] = L[I, I]⁻¹, in double on a copy.
                var storage = matrix.Span;
                var diagonalBlock = block.AsSpan(0, w * w);
                CopyDiagonalBlock(storage, n, i0, w, diagonalBlock);
                InvertDiagonalBlock(diagonalBlock, w, 0, w);
                for (int r = 0; r < w; r++)
                    for (int c = 0; c <= r; c++) storage[(i0 + r) * n + i0 + c] = (float)diagonalBlock[r * w + c];
            }
        }
        finally
        {
            ScratchBuffers.Return(y);
            ScratchBuffers.Return(block);
        }
    }
}
