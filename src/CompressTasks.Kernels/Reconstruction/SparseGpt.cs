namespace CompressTasks.Kernels.Reconstruction;

/// <summary>SparseGPT settings.</summary>
/// <param name="Sparsity">Fraction of weights zeroed, for unstructured sparsity (ignored when <paramref name="PruneN"/> &gt; 0).</param>
/// <param name="PruneN">N of an N:M pattern (2 for 2:4): zeros per group of <paramref name="GroupM"/> consecutive inputs; 0 for unstructured.</param>
/// <param name="GroupM">M of an N:M pattern (4 for 2:4).</param>
/// <param name="BlockSize">Rows per block: the unstructured mask is chosen per block (adaptive), and updates are lazy per block.</param>
/// <param name="Damp">λ = damp · mean(diag H) added to H's diagonal.</param>
public sealed record SparseGptOptions(double Sparsity = 0.5, int PruneN = 0, int GroupM = 4, int BlockSize = 128, double Damp = 0.01);

/// <summary>
/// SparseGPT (Frantar and Alistarh, 2023): prunes a weight [K, N] (MatMul layout) by optimal brain surgeon
/// updates: rows are visited in order, the pruned entries of each row are set to zero and their error is pushed
/// onto the rows not yet visited, through the same factor U = chol(H⁻¹) as <see cref="Gptq"/>.
/// </summary>
/// <remarks>
/// <code>
///   score of w[k, c] = w[k, c]² / U[k, k]²     (OBS saliency; low scores are pruned)
///   unstructured: per output column c and block of rows [b0, b1), the ⌊sparsity · b1⌋ − ⌊sparsity · b0⌋ lowest scores
///   N:M:          per output column c and group of M consecutive rows (inputs), the N lowest scores
///   e = (w_k − masked(w_k)) / U[k, k];  w_j ← w_j − U[k, j] · e  for j &gt; k
/// </code>
/// N:M runs along K, the reduction axis, as sparse matrix units expect; the block size is rounded up to a multiple
/// of M. Scores are taken from the weights as updated so far (block start, or group start for N:M). Ties break by
/// row index, so the mask is deterministic. Surviving weights are changed too: the caller stores the whole
/// updated weight, not just the mask.
/// </remarks>
public static class SparseGpt
{
    /// <summary>
    /// Prunes <paramref name="weights"/> [<paramref name="rows"/>, <paramref name="columns"/>] into
    /// <paramref name="result"/> (same shape, not overlapping); <paramref name="hessian"/> is left as it was (the
    /// factor goes into a copy).
    /// </summary>
    public static ReconstructionInfo Prune(ReadOnlySpan<float> weights, Span<float> result, int rows, int columns, SymmetricMatrix hessian, SparseGptOptions options) =>
        PruneInPlace(weights, result, rows, columns, hessian.Order == rows ? hessian.Clone() : throw new ArgumentException($"H must be [{rows}, {rows}]", nameof(hessian)), options);

    /// <summary>As <see cref="Prune"/>, with <paramref name="hessian"/> factored in place and disposed.</summary>
    public static unsafe ReconstructionInfo PruneInPlace(ReadOnlySpan<float> weights, Span<float> result, int rows, int columns, SymmetricMatrix hessian, SparseGptOptions options)
    {
        int k = rows, n = columns;
        bool structured = options.PruneN > 0;
        try
        {
            if (hessian.Order != k) throw new ArgumentException($"H must be [{k}, {k}]", nameof(hessian));
            if (weights.Length != (long)k * n || result.Length != weights.Length) throw new ArgumentException($"weights and result must be [{k}, {n}]");
            if (weights.Overlaps(result)) throw new ArgumentException("the result must not overlap the weights", nameof(result));
            if (structured && (options.GroupM < 1 || options.PruneN > options.GroupM)) throw new ArgumentException($"bad N:M pattern {options.PruneN}:{options.GroupM}");
        }
        catch
        {
            hessian.Dispose();
            throw;
        }
        int block = Math.Max(1, options.BlockSize);
        if (structured) block = (block + options.GroupM - 1) / options.GroupM * options.GroupM;
        fixed (float* pinned = result)
        {
            using var work = new Workspace(k, n, block, hessian, pinned);
            var order = new int[k];
            int dead = work.Prepare(weights, actOrder: false, options.Damp, order, out double damp);
            var mask = new bool[block * n];
            var scores = new float[block];
            var index = new int[block];
            var pruned = work.Row;
            for (int b0 = 0; b0 < k; b0 += block)
            {
                int b1 = Math.Min(k, b0 + block);
                // Cumulative rounding: each column loses ⌊sparsity · K⌋ weights in all, spread over the blocks.
                if (!structured) SelectLowest(work, n, b0, b1, (int)(options.Sparsity * b1) - (int)(options.Sparsity * b0), mask, scores, index);
                for (int i = b0; i < b1; i++)
                {
                    if (structured && (i - b0) % options.GroupM == 0)
                    {
                        int end = Math.Min(b1, i + options.GroupM);
                        // A short tail group keeps the same ratio, rounded down.
                        int count = options.PruneN * (end - i) / options.GroupM;
                        SelectLowest(work, n, i, end, count, mask.AsSpan((i - b0) * n), scores, index);
                    }
                    var row = work.WeightRow(i);
                    var rowMask = mask.AsSpan((i - b0) * n, n);
                    for (int c = 0; c < n; c++) pruned[c] = rowMask[c] ? 0 : row[c];
                    work.Propagate(i, b1, pruned);
                }
                work.LazyUpdate(b0, b1);
            }
            double error = work.Error(weights, order);
            work.Restore(order);
            return new ReconstructionInfo(damp, dead, error);
        }
    }

    // mask[(r − start) · n + c] = true for the `count` rows r in [start, end) with the lowest w[r, c]² / U[r, r]², per column c.
    private static void SelectLowest(Workspace work, int n, int start, int end, int count,
        Span<bool> mask, float[] scores, int[] index)
    {
        int length = end - start;
        mask[..(length * n)].Clear();
        if (count <= 0) return;
        for (int c = 0; c < n; c++)
        {
            var s = scores.AsSpan(0, length);
            var ix = index.AsSpan(0, length);
            for (int r = 0; r < length; r++)
            {
                float v = work.WeightRow(start + r)[c];
                double d = work.U(start + r, start + r);
                s[r] = (float)(v * (double)v / (d * d));
                ix[r] = r;
            }
            // Stable order for equal scores: sort (score, row) pairs.
            s.Sort(ix);
            SortTies(s, ix);
            for (int r = 0; r < count; r++) mask[ix[r] * n + c] = true;
        }
    }

    // Span.Sort is not stable: within runs of equal scores put rows in increasing order.
    private static void SortTies(Span<float> s, Span<int> ix)
    {
        int a = 0;
        while (a < s.Length)
        {
            int b = a + 1;
            while (b < s.Length && s[b] == s[a]) b++;
            if (b - a > 1) ix[a..b].Sort();
            a = b;
        }
    }
}
