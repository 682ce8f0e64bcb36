namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Reorders a square matrix's rows and columns alike, in place: entry [p, q] of the result is entry
/// [order[p], order[q]] of the input. GPTQ's act-order and the regrouping of a Conv's patch features by kernel position
/// both reorder an H that is given up, where a reordered copy would be a second K × K matrix (170 MB at K = 4608).
/// </summary>
public static class SymmetricPermutation
{
    /// <summary>
    /// Applies <paramref name="order"/> (a permutation of 0 … k−1) to <paramref name="matrix"/> [k, k]: rows by cycles,
    /// then each row's columns, with one row of scratch.
    /// </summary>
    public static void Apply(Span<double> matrix, int k, ReadOnlySpan<int> order)
    {
        if (matrix.Length != k * k || order.Length != k) throw new ArgumentException($"matrix must be [{k}, {k}] and order [{k}]");
        var row = new double[k];
        var done = new bool[k];
        for (int start = 0; start < k; start++)
        {
            if (done[start] || order[start] == start) continue;
            matrix.Slice(start * k, k).CopyTo(row);
            int i = start;
            while (true)
            {
                done[i] = true;
                int from = order[i];
                if (from == start)
                {
                    row.CopyTo(matrix.Slice(i * k, k));
                    break;
                }
                if ((uint)from >= (uint)k || done[from]) throw new ArgumentException("order is not a permutation", nameof(order));
                matrix.Slice(from * k, k).CopyTo(matrix.Slice(i * k, k));
                i = from;
            }
        }
        for (int r = 0; r < k; r++)
        {
            var target = matrix.Slice(r * k, k);
            target.CopyTo(row);
            for (int j = 0; j < k; j++) target[j] = row[order[j]];
        }
    }
}
