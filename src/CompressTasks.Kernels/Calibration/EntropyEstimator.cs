namespace CompressTasks.Kernels.Calibration;

/// <summary>
/// The threshold T that loses least information when |x| is clipped to T and quantized: the KL-divergence search
/// of TensorRT's int8 calibration, over a streaming <see cref="Histogram"/> folded to magnitudes.
/// </summary>
/// <remarks>
/// <code>
///   h: the |x| histogram (bins/2 bins of width w over [0, R]); for every candidate i in [levels, bins/2]:
///     P = h[0..i), with the clipped tail Σ h[i..] added to its last bin              (what clipping at i·w keeps)
///     Q = h[0..i) merged into `levels` groups, each group's count spread evenly over its nonzero bins
///                                                                                     (what quantizing keeps)
///     both normalized and smoothed (zeros get ε = 1e-4, taken evenly from the nonzero bins), D(i) = KL(P ‖ Q)
///   T = i*·w with i* = argmin D(i) (the first one on ties)
///   range = [max(min x, −T), min(max x, T)], widened to contain 0
/// </code>
/// Exact zeros are left out of the histogram: 0 is always in the range and quantizes without error, and after a
/// Relu half the values are 0, a spike in the first bin that would otherwise drive the search to the smallest T.
/// </remarks>
public sealed class EntropyEstimator(int levels = 128, int bins = 4096) : IRangeEstimator
{
    private readonly Histogram _histogram = new(bins);

    /// <summary>Quantization levels per sign the threshold is searched for (128 for 8 bits, as TensorRT).</summary>
    public int Levels { get; } = levels >= 1 ? levels : throw new ArgumentOutOfRangeException(nameof(levels));

    /// <inheritdoc/>
    public void Observe(ReadOnlySpan<float> values) => _histogram.Add(values, ignoreZeros: true);

    /// <inheritdoc/>
    public (float Min, float Max) Range()
    {
        var h = _histogram;
        if (h.Total == 0 || h.Radius == 0) return (0, 0);
        var magnitudes = new long[h.Counts.Length / 2];
        h.FoldMagnitudes(magnitudes);
        float threshold = EntropyThreshold.Find(magnitudes, Levels, out _) * h.BinWidth;
        return (Math.Min(0, Math.Max(h.Min, -threshold)), Math.Max(0, Math.Min(h.Max, threshold)));
    }
}
