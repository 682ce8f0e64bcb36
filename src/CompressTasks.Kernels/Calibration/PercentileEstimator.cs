namespace CompressTasks.Kernels.Calibration;

/// <summary>
/// Clips the tails: the range runs from the (100 − p)th to the pth percentile of the observed values, read off a
/// streaming <see cref="Histogram"/>, so a few outliers no longer stretch the scale for everything else.
/// </summary>
/// <remarks>
/// <code>
///   high = upper edge of the first bin where the running count reaches  N · p/100
///   low  = lower edge of the first bin where the running count exceeds N · (1 − p/100)
///   range = [min(0, max(low, min x)), max(0, min(high, max x))]
/// </code>
/// Resolution is one bin (2R / bins, R the histogram's power-of-two radius); clipping to the observed min and max
/// keeps a coarse bin from widening the range past the data.
/// </remarks>
public sealed class PercentileEstimator(double percentile = 99.99, int bins = 4096) : IRangeEstimator
{
    private readonly Histogram _histogram = new(bins);

    /// <summary>The percentile kept, in [50, 100] (the recipe parameter's range).</summary>
    public double Percentile { get; } = percentile is >= 50 and <= 100
        ? percentile
        : throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "in [50, 100]");

    /// <inheritdoc/>
    public void Observe(ReadOnlySpan<float> values) => _histogram.Add(values);

    /// <inheritdoc/>
    public (float Min, float Max) Range()
    {
        var h = _histogram;
        if (h.Total == 0 || h.Radius == 0) return (0, 0);
        var counts = h.Counts;
        double highTarget = h.Total * (Percentile / 100), lowTarget = h.Total * (1 - Percentile / 100);
        int lowBin = -1, highBin = counts.Length - 1;
        long running = 0;
        for (int b = 0; b < counts.Length; b++)
        {
            running += counts[b];
            if (lowBin < 0 && running > lowTarget) lowBin = b;
            if (running >= highTarget)
            {
                highBin = b;
                break;
            }
        }
        float width = h.BinWidth;
        float low = -h.Radius + Math.Max(lowBin, 0) * width, high = -h.Radius + (highBin + 1) * width;
        return (Math.Min(0, Math.Max(low, h.Min)), Math.Max(0, Math.Min(high, h.Max)));
    }
}
