namespace CompressTasks.Kernels.Calibration;

/// <summary>
/// A histogram of signed values over a symmetric range [−R, R] in a fixed, even number of equal bins, whose range
/// doubles when a batch holds a larger magnitude. Doubling merges bin pairs exactly, so the counts never need the
/// values again (streaming), and the result depends only on the values and their order.
/// </summary>
/// <remarks>
/// <code>
///   width w = 2R / bins           bin(x) = clamp(floor((x + R) / w), 0, bins − 1)
///   R starts at the first batch's max|x| rounded up to a power of two; R → 2R maps old bins (2k, 2k + 1) to
///   bins/4 + k, since (−R + 2k·w + 2R) / 2w = bins/4 + k.
/// </code>
/// The exact minimum and maximum are kept beside the counts, so estimators can clip to what was really seen.
/// </remarks>
public sealed class Histogram
{
    private readonly long[] _counts;

    /// <summary>Creates an empty histogram of <paramref name="bins"/> bins (a multiple of 4, at least 8).</summary>
    public Histogram(int bins = 4096)
    {
        if (bins < 8 || bins % 4 != 0) throw new ArgumentOutOfRangeException(nameof(bins), bins, "a multiple of 4, at least 8");
        _counts = new long[bins];
    }

    /// <summary>Half-width R of the range; 0 until a nonzero value was seen.</summary>
    public float Radius { get; private set; }

    /// <summary>Counts per bin, bin 0 starting at −R.</summary>
    public ReadOnlySpan<long> Counts => _counts;

    /// <summary>Finite values observed.</summary>
    public long Total { get; private set; }

    /// <summary>Smallest finite value observed, or 0 when none was negative.</summary>
    public float Min { get; private set; }

    /// <summary>Largest finite value observed, or 0 when none was positive.</summary>
    public float Max { get; private set; }

    /// <summary>Width of one bin, 2R / bins.</summary>
    public float BinWidth => 2 * Radius / _counts.Length;

    /// <summary>Adds the finite values of a batch; with <paramref name="ignoreZeros"/> exact zeros are not counted.</summary>
    public void Add(ReadOnlySpan<float> values, bool ignoreZeros = false)
    {
        float magnitude = 0;
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) continue;
            magnitude = Math.Max(magnitude, Math.Abs(v));
            Min = Math.Min(Min, v);
            Max = Math.Max(Max, v);
        }
        if (magnitude > 0)
        {
            if (Radius == 0) Radius = MathF.Pow(2, MathF.Ceiling(MathF.Log2(magnitude)));
            while (magnitude > Radius) Double();
        }
        int bins = _counts.Length;
        float inverse = Radius > 0 ? bins / (2 * Radius) : 0;
        foreach (var v in values)
        {
            if (!float.IsFinite(v) || (ignoreZeros && v == 0)) continue;
            // With no nonzero value yet (R = 0) every value is 0 and falls in the middle bin.
            int bin = Radius > 0 ? (int)MathF.Floor((v + Radius) * inverse) : bins / 2;
            _counts[Math.Clamp(bin, 0, bins - 1)]++;
            Total++;
        }
    }

    /// <summary>
    /// Folds the signed counts into <paramref name="magnitudes"/> (bins/2 bins over [0, R]): bin k of |x| holds the
    /// signed bins just above and just below 0 at distance k.
    /// </summary>
    public void FoldMagnitudes(Span<long> magnitudes)
    {
        int half = _counts.Length / 2;
        if (magnitudes.Length != half) throw new ArgumentException($"needs {half} bins", nameof(magnitudes));
        for (int k = 0; k < half; k++) magnitudes[k] = _counts[half + k] + _counts[half - 1 - k];
    }

    private void Double()
    {
        int bins = _counts.Length, quarter = bins / 4;
        var merged = new long[bins];
        for (int k = 0; k < bins / 2; k++) merged[quarter + k] = _counts[2 * k] + _counts[2 * k + 1];
        merged.CopyTo(_counts, 0);
        Radius *= 2;
    }
}
