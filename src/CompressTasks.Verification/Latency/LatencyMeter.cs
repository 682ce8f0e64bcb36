using System.Diagnostics;
using CompressTasks.Runtime;

namespace CompressTasks.Verification;

/// <summary>Median and 90th percentile of repeated runs, after warm-up, in milliseconds.</summary>
public sealed record LatencyStats(double MedianMs, double P90Ms, int Runs);

/// <summary>Measures inference latency. Opt-in from recipes: it costs build time.</summary>
public static class LatencyMeter
{
    public static LatencyStats Measure(ModelSession session, IReadOnlyDictionary<string, TensorValue> feed, int warmup = 3, int runs = 20)
    {
        for (int i = 0; i < warmup; i++) session.Run(feed);
        var samples = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            session.Run(feed);
            samples[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(samples);
        return new LatencyStats(Percentile(samples, 0.5), Percentile(samples, 0.9), runs);
    }

    /// <summary>Linear interpolation between closest ranks of sorted samples.</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        double rank = p * (sorted.Length - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
    }
}
