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
    public static (double Error, double Reference) Terms(ReadOnlySpan<double> hessian, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns) =>
        Compute(hessian, original, compressed, rows, columns, withReference: true);

    /// <summary>tr(Δᵀ H Δ) alone: for a second compressed variant of a layer whose reference <see cref="Terms"/> already gave.</summary>
    public static double Error(ReadOnlySpan<double> hessian, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns) =>
        Compute(hessian, original, compressed, rows, columns, withReference: false).Error;

    /// <summary>
    /// <see cref="Terms(ReadOnlySpan{double}, ReadOnlySpan{float}, ReadOnlySpan{float}, int, int)"/> with H a float
    /// <see cref="SymmetricMatrix"/>: only its kept triangle is read, and scratch is a few row blocks, not [K, N].
    /// </summary>
    public static (double Error, double Reference) Terms(SymmetricMatrix h, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns)
    {
        Check(h, original, compressed, rows, columns);
        return (Quadratic(h, original, compressed, rows, columns), Quadratic(h, original, default, rows, columns));
    }

    /// <summary>tr(Δᵀ H Δ) alone, H a float <see cref="SymmetricMatrix"/>.</summary>
    public static double Error(SymmetricMatrix h, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns)
    {
        Check(h, original, compressed, rows, columns);
        return Quadratic(h, original, compressed, rows, columns);
    }

    private static void Check(SymmetricMatrix h, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns)
    {
        ArgumentNullException.ThrowIfNull(h);
        if (original.Length != (long)rows * columns || compressed.Length != original.Length || h.Order != rows)
            throw new ArgumentException($"weights must be [{rows}, {columns}] and H of order {rows}");
    }

    private static (double Error, double Reference) Compute(ReadOnlySpan<double> hessian, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns, bool withReference)
    {
        int n = columns;
        if (original.Length != (long)rows * n || compressed.Length != original.Length || hessian.Length != rows * rows)
            throw new ArgumentException($"weights must be [{rows}, {n}] and H [{rows}, {rows}]");
        // One [K, N] double buffer: W first (for the reference), then W − Ŵ in its place, a row at a time.
        var buffer = ScratchBuffers.Rent<double>(rows * n);
        var row = new double[n];
        try
        {
            var m = buffer.AsSpan(0, rows * n);
            TensorPrimitives.ConvertTruncating<float, double>(original, m);
            double reference = withReference ? Quadratic(hessian, default, m, rows, n) : 0;
            for (int i = 0; i < rows; i++)
            {
                TensorPrimitives.ConvertTruncating<float, double>(compressed.Slice(i * n, n), row);
                TensorPrimitives.Subtract<double>(m.Slice(i * n, n), row, m.Slice(i * n, n));
            }
            return (Quadratic(hessian, default, m, rows, n), reference);
        }
        finally
        {
            ScratchBuffers.Return(buffer);
        }
    }

    /// <summary>
    /// tr(Mᵀ H M) for M [rows, n] with H given by its strict lower triangle (the upper one is not read) and its
    /// diagonal apart: H as GPTQ's workspace keeps it beside the factor that took its place.
    /// </summary>
    public static double QuadraticFromLower(ReadOnlySpan<double> lower, ReadOnlySpan<double> diagonal, ReadOnlySpan<double> m, int rows, int n)
    {
        if (diagonal.Length != rows || lower.Length != rows * rows || m.Length != (long)rows * n)
            throw new ArgumentException($"H must be [{rows}, {rows}] with a diagonal of {rows}, M [{rows}, {n}]");
        return Quadratic(lower, diagonal, m, rows, n);
    }

    // Rows of M per block (one thread's), and rows of H's depth per product step (in cache).
    private const int Rows = 32, Depth = 256;

    // tr(Mᵀ H M) = Σ_i ⟨M[i, ·], (H M)[i, ·]⟩, rows of M contiguous. H is symmetric, so by blocks of rows b:
    //   tr = Σ_b 2 ⟨M_b, H[b, before b] M_before⟩ + ⟨M_b, H[b, b] M_b⟩
    // (half the products of the full H M). Each block is done by one thread (in parallel for large layers) with the
    // tiled product over depth blocks that stay in cache; the block sums are added in block order, so the result
    // does not depend on the threads. With a separate diagonal, only H's strict lower triangle is read: the
    // diagonal blocks H[b, b] are rebuilt symmetric from it.
    private static unsafe double Quadratic(ReadOnlySpan<double> h, ReadOnlySpan<double> diagonal, ReadOnlySpan<double> m, int rows, int n)
    {
        fixed (double* hp = h, mp = m, dp = diagonal)
        {
            var hs = new PinnedSpan<double>(hp, h.Length);
            var ms = new PinnedSpan<double>(mp, m.Length);
            var ds = new PinnedSpan<double>(dp, diagonal.Length);
            bool full = diagonal.IsEmpty;
            double Block(int b)
            {
                int i0 = b * Rows, count = Math.Min(Rows, rows - i0);
                var product = ScratchBuffers.Rent<double>(count * n);
                try
                {
                    // p = −H[b, from..end) M[from..end): the rows before the block, then the block itself.
                    double Product(int from, int end)
                    {
                        var p = product.AsSpan(0, count * n);
                        p.Clear();
                        for (int d0 = from; d0 < end; d0 += Depth)
                            BlockedProduct.MultiplySubtract(p, n, hs.Span.Slice(i0 * rows + d0), rows, ms.Span.Slice(d0 * n), n, count, n, Math.Min(Depth, end - d0));
                        return -TensorPrimitives.Dot<double>(ms.Span.Slice(i0 * n, count * n), p);
                    }
                    double below = i0 > 0 ? 2 * Product(0, i0) : 0;
                    if (full) return below + Product(i0, i0 + count);
                    var block = ScratchBuffers.Rent<double>(count * count);
                    try
                    {
                        var hb = hs.Span;
                        for (int r = 0; r < count; r++)
                        {
                            block[r * count + r] = ds.Span[i0 + r];
                            for (int c = 0; c < r; c++) block[r * count + c] = block[c * count + r] = hb[(i0 + r) * rows + i0 + c];
                        }
                        var p = product.AsSpan(0, count * n);
                        p.Clear();
                        BlockedProduct.MultiplySubtract(p, n, block, count, ms.Span.Slice(i0 * n), n, count, n, count);
                        return below - TensorPrimitives.Dot<double>(ms.Span.Slice(i0 * n, count * n), p);
                    }
                    finally
                    {
                        ScratchBuffers.Return(block);
                    }
                }
                finally
                {
                    ScratchBuffers.Return(product);
                }
            }
            return SumOfBlocks(rows, n, Block);
        }
    }

    // tr(Mᵀ H M), M = W − Ŵ (or W when compressed is empty), from the kept triangle of a float H. By blocks of rows b:
    //   tr = Σ_b ⟨M_b, H[b, b] M_b⟩ + 2 ⟨M_b, H[b, after b] M_after⟩
    // H[b, after b] is the kept triangle itself (row i of H from column i on is row K − 1 − i of R, reversed), read a
    // depth block at a time into double with M's rows of that depth block formed in reversed order to match; the
    // diagonal block is rebuilt symmetric. Scratch per thread is the block's rows of M and of the product, one depth
    // block of M and of H: O((Rows + Depth) · N) whatever K.
    private static unsafe double Quadratic(SymmetricMatrix h, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int k, int n)
    {
        fixed (float* op = original, cp = compressed)
        {
            var ws = new PinnedSpan<float>(op, original.Length);
            var cs = new PinnedSpan<float>(cp, compressed.Length);
            var rs = new PinnedSpan<float>(h.Pointer, k * k);
            bool difference = !compressed.IsEmpty;
            // target = W[row] − Ŵ[row] (or W[row]) in double, as the double path forms Δ (scratch: n doubles).
            void Form(int row, Span<double> target, Span<double> scratch)
            {
                TensorPrimitives.ConvertTruncating<float, double>(ws.Span.Slice(row * n, n), target);
                if (!difference) return;
                TensorPrimitives.ConvertTruncating<float, double>(cs.Span.Slice(row * n, n), scratch);
                TensorPrimitives.Subtract<double>(target, scratch, target);
            }
            double Block(int b)
            {
                int i0 = b * Rows, count = Math.Min(Rows, k - i0), i1 = i0 + count;
                var mb = ScratchBuffers.Rent<double>(count * n);
                var product = ScratchBuffers.Rent<double>(count * n);
                var md = ScratchBuffers.Rent<double>(Math.Min(Depth, Math.Max(1, k - i1)) * n);
                var hb = ScratchBuffers.Rent<double>(count * Math.Max(count, Depth));
                var row = ScratchBuffers.Rent<double>(n);
                try
                {
                    var r = rs.Span;
                    var scratch = row.AsSpan(0, n);
                    var m = mb.AsSpan(0, count * n);
                    var p = product.AsSpan(0, count * n);
                    for (int q = 0; q < count; q++) Form(i0 + q, m.Slice(q * n, n), scratch);
                    // H[b, b]: H[i0 + a, i0 + c] = R[k − 1 − i0 − a, k − 1 − i0 − c] for a ≤ c.
                    for (int c = 0; c < count; c++)
                        for (int a = 0; a <= c; a++) hb[a * count + c] = hb[c * count + a] = r[(k - 1 - i0 - a) * k + k - 1 - i0 - c];
                    p.Clear();
                    BlockedProduct.MultiplySubtract(p, n, hb, count, m, n, count, n, count);
                    double diagonal = -TensorPrimitives.Dot<double>(m, p);
                    if (i1 == k) return diagonal;
                    p.Clear();
                    for (int j0 = i1; j0 < k; j0 += Depth)
                    {
                        int depth = Math.Min(Depth, k - j0), j1 = j0 + depth;
                        // Column q of the depth block is H's column j1 − 1 − q: R's rows run that way.
                        for (int q = 0; q < depth; q++) Form(j1 - 1 - q, md.AsSpan(q * n, n), scratch);
                        for (int a = 0; a < count; a++)
                            TensorPrimitives.ConvertTruncating<float, double>(r.Slice((k - 1 - i0 - a) * k + k - j1, depth), hb.AsSpan(a * depth, depth));
                        BlockedProduct.MultiplySubtract(p, n, hb, depth, md, n, count, n, depth);
                    }
                    return diagonal - 2 * TensorPrimitives.Dot<double>(m, p);
                }
                finally
                {
                    ScratchBuffers.Return(row);
                    ScratchBuffers.Return(hb);
                    ScratchBuffers.Return(md);
                    ScratchBuffers.Return(product);
                    ScratchBuffers.Return(mb);
                }
            }
            double total = SumOfBlocks(k, n, Block);
            GC.KeepAlive(h); // its finalizer frees the memory read through the pointer
            return total;
        }
    }

    // Σ_b block(b) over the row blocks, in parallel for large layers; the block sums are added in block order, so the
    // result does not depend on the threads.
    private static double SumOfBlocks(int rows, int n, Func<int, double> block)
    {
        int blocks = (rows + Rows - 1) / Rows;
        var partial = new double[blocks];
        if ((long)rows * rows * n < 1 << 22)
            for (int b = 0; b < blocks; b++) partial[b] = block(b);
        else Parallel.For(0, blocks, b => partial[b] = block(b));
        double total = 0;
        foreach (var v in partial) total += v;
        return total;
    }
}
