using System.Buffers;

namespace CompressTasks.Kernels.Calibration;

/// <summary>The KL-divergence threshold search behind <see cref="EntropyEstimator"/>, on any magnitude histogram.</summary>
public static class EntropyThreshold
{
    /// <summary>Mass given to each empty bin before the divergence is taken, so log(p/q) stays finite.</summary>
    public const double Epsilon = 1e-4;

    /// <summary>
    /// The number of bins i* to keep (in [<paramref name="levels"/>, bins]; all bins when there are fewer) that
    /// minimizes KL(P ‖ Q); <paramref name="divergence"/> is that minimum.
    /// </summary>
    public static int Find(ReadOnlySpan<long> histogram, int levels, out double divergence)
    {
        int n = histogram.Length;
        divergence = 0;
        if (n <= levels) return n;
        var buffer = ArrayPool<double>.Shared.Rent(2 * n);
        try
        {
            int best = n;
            double bestDivergence = double.PositiveInfinity;
            // The clipped tail Σ h[i..] for i = levels, shrunk as i grows (one pass instead of one per candidate).
            long tail = 0;
            for (int j = levels; j < n; j++) tail += histogram[j];
            for (int i = levels; i <= n; i++)
            {
                double d = Divergence(histogram, i, levels, tail, buffer.AsSpan(0, i), buffer.AsSpan(n, i));
                if (i < n) tail -= histogram[i];
                if (d < bestDivergence)
                {
                    bestDivergence = d;
                    best = i;
                }
            }
            divergence = bestDivergence;
            return best;
        }
        finally
        {
            ArrayPool<double>.Shared.Return(buffer);
        }
    }

    /// <summary>D(i) = KL(P ‖ Q) for keeping the first <paramref name="keep"/> bins (see <see cref="EntropyEstimator"/>).</summary>
    public static double Divergence(ReadOnlySpan<long> histogram, int keep, int levels)
    {
        var p = new double[keep];
        var q = new double[keep];
        return Divergence(histogram, keep, levels, p, q);
    }

    private static double Divergence(ReadOnlySpan<long> histogram, int keep, int levels, Span<double> p, Span<double> q)
    {
        long tail = 0;
        for (int j = keep; j < histogram.Length; j++) tail += histogram[j];
        return Divergence(histogram, keep, levels, tail, p, q);
    }

    private static double Divergence(ReadOnlySpan<long> histogram, int keep, int levels, long tail, Span<double> p, Span<double> q)
    {
        for (int j = 0; j < keep; j++) p[j] = histogram[j];
        p[keep - 1] += tail;

        // Group g holds bins [g·keep/levels, (g+1)·keep/levels): sizes differ by at most one when levels ∤ keep.
        q.Clear();
        for (int g = 0; g < levels; g++)
        {
            int start = (int)((long)g * keep / levels), end = (int)((long)(g + 1) * keep / levels);
            double sum = 0;
            int nonzero = 0;
            for (int j = start; j < end; j++)
            {
                sum += histogram[j];
                if (histogram[j] != 0) nonzero++;
            }
            if (nonzero == 0) continue;
            for (int j = start; j < end; j++) q[j] = histogram[j] != 0 ? sum / nonzero : 0;
        }
        if (!Normalize(p) || !Normalize(q)) return double.PositiveInfinity;
        Smooth(p);
        Smooth(q);
        double kl = 0;
        for (int j = 0; j < keep; j++)
            if (p[j] > 0) kl += p[j] * Math.Log(p[j] / q[j]);
        return kl;
    }

    private static bool Normalize(Span<double> d)
    {
        double sum = 0;
        foreach (var v in d) sum += v;
        if (sum <= 0) return false;
        for (int j = 0; j < d.Length; j++) d[j] /= sum;
        return true;
    }

    // Zeros get ε; the nonzero bins give it back evenly, so the total stays 1.
    private static void Smooth(Span<double> d)
    {
        int zeros = 0;
        foreach (var v in d) if (v == 0) zeros++;
        if (zeros == 0 || zeros == d.Length) return;
        double take = Epsilon * zeros / (d.Length - zeros);
        for (int j = 0; j < d.Length; j++) d[j] = d[j] == 0 ? Epsilon : d[j] - take;
    }
}
