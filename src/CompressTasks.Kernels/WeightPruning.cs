using System.Buffers;
using System.Numerics.Tensors;

namespace CompressTasks.Kernels;

/// <summary>
/// Magnitude pruning and outlier clipping over float32 weights, in place.
/// </summary>
/// <remarks>
/// Selection of the k-th smallest magnitude is a quickselect over a scratch copy of |w| (expected O(n), no full
/// sort). Ties are broken by index: <see cref="ZeroSmallest"/> zeroes exactly k values, all those strictly below
/// the k-th magnitude and then the earliest ones equal to it, so the result is deterministic.
/// Weights are viewed as [outer, K, inner] where K is the axis N:M groups and channels run along.
/// </remarks>
public static class WeightPruning
{
    /// <summary>The k-th smallest |v| (k is 1-based; 1 ≤ k ≤ n). <paramref name="scratch"/> (length ≥ n) is overwritten.</summary>
    public static float KthSmallestMagnitude(ReadOnlySpan<float> values, long k, Span<float> scratch)
    {
        int n = values.Length;
        if (k < 1 || k > n) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must lie in [1, {n}]");
        var a = scratch[..n];
        TensorPrimitives.Abs(values, a);
        return Select(a, (int)(k - 1));
    }

    /// <summary>Zeroes the <paramref name="k"/> smallest-magnitude values (ties by index); returns how many are zero afterwards.</summary>
    public static long ZeroSmallest(Span<float> values, long k)
    {
        if (k <= 0) return CountZeros(values);
        if (k >= values.Length)
        {
            values.Clear();
            return values.Length;
        }
        var rented = ArrayPool<float>.Shared.Rent(values.Length);
        float t;
        try { t = KthSmallestMagnitude(values, k, rented); }
        finally { ArrayPool<float>.Shared.Return(rented); }
        long below = CountBelow(values, t);
        long ties = k - below;
        for (int i = 0; i < values.Length; i++)
        {
            float m = MathF.Abs(values[i]);
            if (m < t) values[i] = 0;
            else if (m == t && ties > 0)
            {
                values[i] = 0;
                ties--;
            }
        }
        return CountZeros(values);
    }

    /// <summary>Zeroes every value with |v| &lt; <paramref name="threshold"/>; returns how many are zero afterwards.</summary>
    public static long ZeroBelow(Span<float> values, float threshold)
    {
        for (int i = 0; i < values.Length; i++)
            if (MathF.Abs(values[i]) < threshold) values[i] = 0;
        return CountZeros(values);
    }

    /// <summary>How many values have |v| &lt; <paramref name="threshold"/>.</summary>
    public static long CountBelow(ReadOnlySpan<float> values, float threshold)
    {
        long count = 0;
        for (int i = 0; i < values.Length; i++) if (MathF.Abs(values[i]) < threshold) count++;
        return count;
    }

    /// <summary>How many values are exactly zero (either sign).</summary>
    public static long CountZeros(ReadOnlySpan<float> values)
    {
        long count = 0;
        for (int i = 0; i < values.Length; i++) if (values[i] == 0) count++;
        return count;
    }

    /// <summary>
    /// N:M sparsity along K of a [outer, K, inner] view: in each run of <paramref name="m"/> consecutive values along
    /// K, the m − n smallest magnitudes (ties by position) become zero. K must be a multiple of m.
    /// </summary>
    public static void ZeroNofM(Span<float> values, int outer, int k, int inner, int n, int m)
    {
        if ((long)outer * k * inner != values.Length) throw new ArgumentException($"{values.Length} values are not {outer}×{k}×{inner}");
        if (m < 1 || n < 0 || n > m || k % m != 0) throw new ArgumentException($"{n}:{m} does not divide K = {k}");
        Span<float> group = stackalloc float[m];
        Span<bool> drop = stackalloc bool[m];
        for (int o = 0; o < outer; o++)
            for (int g = 0; g < k; g += m)
                for (int i = 0; i < inner; i++)
                {
                    int start = (o * k + g) * inner + i;
                    for (int j = 0; j < m; j++) group[j] = MathF.Abs(values[start + j * inner]);
                    drop.Clear();
                    // m is tiny (4 or 8): pick the m − n smallest by repeated scans, earliest first among equals.
                    for (int r = 0; r < m - n; r++)
                    {
                        int best = -1;
                        for (int j = 0; j < m; j++)
                            if (!drop[j] && (best < 0 || group[j] < group[best])) best = j;
                        drop[best] = true;
                    }
                    for (int j = 0; j < m; j++) if (drop[j]) values[start + j * inner] = 0;
                }
    }

    /// <summary>
    /// Clamps <paramref name="values"/> to [lo, hi] and returns how many values changed.
    /// </summary>
    public static long Clamp(Span<float> values, float lo, float hi)
    {
        long clipped = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (v > hi) { values[i] = hi; clipped++; }
            else if (v < lo) { values[i] = lo; clipped++; }
        }
        return clipped;
    }

    /// <summary>
    /// The magnitude bound that keeps the <paramref name="percentile"/> (in [0, 1]) of |v| within it: the value at
    /// rank ⌈p·n⌉ of the sorted magnitudes (nearest rank).
    /// </summary>
    public static float MagnitudePercentile(ReadOnlySpan<float> values, double percentile, Span<float> scratch)
    {
        long k = Math.Clamp((long)Math.Ceiling(percentile * values.Length), 1, values.Length);
        return KthSmallestMagnitude(values, k, scratch);
    }

    /// <summary>Mean and standard deviation (population), accumulated in double.</summary>
    public static (double Mean, double StdDev) MeanStdDev(ReadOnlySpan<float> values)
    {
        if (values.Length == 0) return (0, 0);
        double sum = 0, sumSquares = 0;
        for (int i = 0; i < values.Length; i++)
        {
            sum += values[i];
            sumSquares += (double)values[i] * values[i];
        }
        double mean = sum / values.Length;
        return (mean, Math.Sqrt(Math.Max(0, sumSquares / values.Length - mean * mean)));
    }

    /// <summary>
    /// Per-channel norms of a [outer, channels, inner] view, added to <paramref name="norms"/> (so coupled layers
    /// can be summed): L1 = Σ|w|, L2 = √Σw².
    /// </summary>
    public static void AddChannelNorms(ReadOnlySpan<float> values, int outer, int channels, int inner, bool l2, Span<double> norms)
    {
        if ((long)outer * channels * inner != values.Length) throw new ArgumentException($"{values.Length} values are not {outer}×{channels}×{inner}");
        var sums = new double[channels];
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < channels; c++)
            {
                var block = values.Slice((o * channels + c) * inner, inner);
                sums[c] += l2 ? TensorPrimitives.SumOfSquares(block) : TensorPrimitives.SumOfMagnitudes(block);
            }
        for (int c = 0; c < channels; c++) norms[c] += l2 ? Math.Sqrt(sums[c]) : sums[c];
    }

    /// <summary>
    /// Keeps the slices of a [outer, channels·factor, inner] view whose channel is in <paramref name="keep"/>
    /// (ascending): channel c owns the <paramref name="factor"/> consecutive entries c·factor … c·factor + factor − 1.
    /// </summary>
    public static float[] KeepChannels(ReadOnlySpan<float> values, int outer, int channels, int factor, int inner, ReadOnlySpan<int> keep)
    {
        int width = channels * factor;
        if ((long)outer * width * inner != values.Length) throw new ArgumentException($"{values.Length} values are not {outer}×{width}×{inner}");
        int block = factor * inner;
        var result = new float[(long)outer * keep.Length * block];
        int at = 0;
        for (int o = 0; o < outer; o++)
            foreach (int c in keep)
            {
                values.Slice((o * width + c * factor) * inner, block).CopyTo(result.AsSpan(at, block));
                at += block;
            }
        return result;
    }

    // Quickselect (Hoare partition, median of three): a[k] ends as the k-th smallest.
    private static float Select(Span<float> a, int k)
    {
        int lo = 0, hi = a.Length - 1;
        while (lo < hi)
        {
            int mid = lo + (hi - lo) / 2;
            if (a[mid] < a[lo]) Swap(a, mid, lo);
            if (a[hi] < a[lo]) Swap(a, hi, lo);
            if (a[hi] < a[mid]) Swap(a, hi, mid);
            float pivot = a[mid];
            int i = lo, j = hi;
            while (i <= j)
            {
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j) { Swap(a, i, j); i++; j--; }
            }
            if (k <= j) hi = j;
            else if (k >= i) lo = i;
            else return a[k];
        }
        return a[k];
    }

    private static void Swap(Span<float> a, int i, int j) => (a[i], a[j]) = (a[j], a[i]);
}
