using System.Diagnostics;
using CompressTasks.Runtime;

/// <summary>
/// Latency of several variants of one model measured so that a busy machine affects them alike: every round times
/// each variant once (a few inferences, their median), in an order that rotates from round to round, so slow spells
/// land on all variants; the comparison is the per-round ratio variant / original, summarized by its median and a
/// bootstrap 95% interval over rounds. A variant is "slower" (or "faster") only when the whole interval lies above
/// (below) 1; otherwise the difference is within the noise.
/// </summary>
internal static class PairedLatency
{
    /// <summary>[variant][round]: the median of <paramref name="perRound"/> inferences, after two warm-up runs each.</summary>
    public static double[][] Inference(IReadOnlyList<ModelSession> sessions, IReadOnlyDictionary<string, TensorValue> feed, int rounds, int perRound)
    {
        foreach (var s in sessions)
            for (int i = 0; i < 2; i++) s.Run(feed);
        var result = sessions.Select(_ => new double[rounds]).ToArray();
        var samples = new double[perRound];
        for (int r = 0; r < rounds; r++)
        {
            foreach (int v in Order(sessions.Count, r))
            {
                for (int i = 0; i < perRound; i++)
                {
                    long start = Stopwatch.GetTimestamp();
                    sessions[v].Run(feed);
                    samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
                result[v][r] = Median(samples);
            }
        }
        return result;
    }

    /// <summary>[variant][round]: the time to create (and dispose) one session of each file, interleaved the same way.</summary>
    public static double[][] Creation(IReadOnlyList<string> files, RuntimeOptions options, int rounds)
    {
        var result = files.Select(_ => new double[rounds]).ToArray();
        for (int r = 0; r < rounds; r++)
        {
            foreach (int v in Order(files.Count, r))
            {
                long start = Stopwatch.GetTimestamp();
                using (ModelSession.Open(files[v], options)) { }
                result[v][r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }
        return result;
    }

    /// <summary>The median of the per-round ratios <paramref name="variant"/>[r] / <paramref name="baseline"/>[r] and its bootstrap 95% interval.</summary>
    public static (double Median, double Low, double High) Ratio(double[] variant, double[] baseline, int resamples = 2000)
    {
        var ratios = variant.Zip(baseline, (v, b) => v / b).ToArray();
        var random = new Random(12345);
        var medians = new double[resamples];
        var draw = new double[ratios.Length];
        for (int i = 0; i < resamples; i++)
        {
            for (int j = 0; j < draw.Length; j++) draw[j] = ratios[random.Next(ratios.Length)];
            medians[i] = Median(draw);
        }
        Array.Sort(medians);
        return (Median(ratios), medians[(int)(0.025 * (resamples - 1))], medians[(int)Math.Ceiling(0.975 * (resamples - 1))]);
    }

    /// <summary>"slower" / "faster" when the interval excludes 1, else "same" (within the noise).</summary>
    public static string Verdict((double Median, double Low, double High) ratio) =>
        ratio.Low > 1 ? "slower" : ratio.High < 1 ? "faster" : "same";

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n == 0 ? double.NaN : n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    // Round r starts at variant r mod n and walks forwards on even rounds, backwards on odd ones.
    private static IEnumerable<int> Order(int n, int round)
    {
        for (int i = 0; i < n; i++)
        {
            int step = round % 2 == 0 ? i : -i;
            yield return ((round + step) % n + n) % n;
        }
    }
}
