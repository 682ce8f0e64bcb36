using CompressTasks.Kernels.Calibration;

namespace CompressTasks.Kernels.Tests.Calibration;

[TestClass]
public sealed class RangeEstimatorTests
{
    [TestMethod]
    public void WhenBatchesStream_MinMaxIsTheExtremesWidenedToZero()
    {
        var e = new MinMaxEstimator();
        e.Observe([1f, 3f, 2f]);
        Assert.AreEqual((0f, 3f), e.Range(), "all positive: widened down to 0");
        e.Observe([-1.5f, float.NaN, float.PositiveInfinity, 0.5f]);
        Assert.AreEqual((-1.5f, 3f), e.Range(), "NaN and infinities are ignored");
    }

    [TestMethod]
    public void WhenTheRangeGrows_HistogramBinsMergeExactly()
    {
        // 8 bins: the first batch's max|x| = 3 rounds up to R = 4 (width 1); 7 needs R = 8 (width 2).
        var h = new Histogram(8);
        h.Add([-3.5f, -0.5f, 0.5f, 1.5f, 3f]);
        Assert.AreEqual(4f, h.Radius);
        CollectionAssert.AreEqual(new long[] { 1, 0, 0, 1, 1, 1, 0, 1 }, h.Counts.ToArray());
        h.Add([7f]);
        Assert.AreEqual(8f, h.Radius);
        // Old pairs (0,1) (2,3) (4,5) (6,7) land in bins 2..5; 7 goes to bin 7 ([6, 8)).
        CollectionAssert.AreEqual(new long[] { 0, 0, 1, 1, 2, 1, 0, 1 }, h.Counts.ToArray());
        Assert.AreEqual((6L, -3.5f, 7f), (h.Total, h.Min, h.Max));
        var magnitudes = new long[4];
        h.FoldMagnitudes(magnitudes);
        CollectionAssert.AreEqual(new long[] { 3, 2, 0, 1 }, magnitudes, "|x| in [0,2), [2,4), [4,6), [6,8)");
    }

    [TestMethod]
    public void WhenPercentileIs90_TheTopTenPercentAreClipped()
    {
        // 1..100 in 8 bins over [−128, 128) (width 32): [0,32) holds 31 values, [32,64) 32, [64,96) 32, [96,128) 5.
        // 90% of 100 is reached in the [64, 96) bin, so high = 96; 10% is passed in [0, 32), so low = 0.
        var e = new PercentileEstimator(90, bins: 8);
        e.Observe(Enumerable.Range(1, 100).Select(v => (float)v).ToArray());
        Assert.AreEqual((0f, 96f), e.Range());
        // At 100 nothing is clipped but the edge is clipped to the largest value seen.
        var all = new PercentileEstimator(100, bins: 8);
        all.Observe(Enumerable.Range(1, 100).Select(v => (float)v).ToArray());
        Assert.AreEqual((0f, 100f), all.Range());
    }

    [TestMethod]
    public void WhenTheTailIsLong_PercentileCutsItBothWays()
    {
        // 998 values in [−1, 1] and two outliers at ±100: the 99.8th percentile leaves the outliers out.
        var values = Enumerable.Range(0, 998).Select(i => -1f + 2f * i / 997).Append(100f).Append(-100f).ToArray();
        var e = new PercentileEstimator(99.8);
        e.Observe(values);
        var (min, max) = e.Range();
        // R = 128, width 1/16: the kept range is [−1, 1] to within one bin.
        Assert.IsTrue(min is >= -1.0625f and <= -1f && max is >= 1f and <= 1.0625f, $"({min}, {max})");
    }

    [TestMethod]
    public void WhenKlIsSearchedByHand_TheMiddleThresholdWins()
    {
        // h = [4, 2, 1, 1], 2 levels. No bin is empty, so smoothing changes nothing.
        //   i = 2: P = [4, 2+1+1]/8 = [.5, .5];   Q = [4, 2]/6;             KL = .5 ln(.75) + .5 ln(1.5) = .5 ln 1.125
        //   i = 3: P = [4, 2, 1+1]/8;             Q = [4, 1.5, 1.5]/7;      KL = .5 ln(.875) + .5 ln(7/6)
        //   i = 4: P = [4, 2, 1, 1]/8;            Q = [3, 3, 1, 1]/8;       KL = .5 ln(4/3) + .25 ln(2/3)
        long[] h = [4, 2, 1, 1];
        Assert.AreEqual(0.5 * Math.Log(1.125), EntropyThreshold.Divergence(h, 2, 2), 1e-12);
        Assert.AreEqual(0.5 * Math.Log(0.875) + 0.5 * Math.Log(7.0 / 6), EntropyThreshold.Divergence(h, 3, 2), 1e-12);
        Assert.AreEqual(0.5 * Math.Log(4.0 / 3) + 0.25 * Math.Log(2.0 / 3), EntropyThreshold.Divergence(h, 4, 2), 1e-12);
        Assert.AreEqual(3, EntropyThreshold.Find(h, 2, out double d));
        Assert.AreEqual(0.5 * Math.Log(0.875) + 0.5 * Math.Log(7.0 / 6), d, 1e-12);
    }

    [TestMethod]
    public void WhenABinIsEmpty_SmoothingKeepsTheDivergenceFinite()
    {
        // h = [4, 0, 0, 1]: truncating at 2 bins gives Q a zero where P has the tail; ε keeps it finite but large.
        long[] h = [4, 0, 0, 1];
        double clipped = EntropyThreshold.Divergence(h, 2, 2);
        Assert.IsTrue(double.IsFinite(clipped) && clipped > EntropyThreshold.Divergence(h, 4, 2), $"{clipped}");
    }

    [TestMethod]
    public void WhenActivationsAreGaussianWithOutliers_EntropyClipsBelowTheMaximum()
    {
        var random = new Random(1);
        var values = new float[20000];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
        values[0] = 40f;
        var entropy = new EntropyEstimator();
        var minMax = new MinMaxEstimator();
        foreach (var chunk in values.Chunk(1000))
        {
            entropy.Observe(chunk);
            minMax.Observe(chunk);
        }
        var (low, high) = entropy.Range();
        Console.WriteLine($"entropy range ({low:F3}, {high:F3}) vs min/max {minMax.Range()}");
        // A unit Gaussian's 20,000 samples reach about ±4.4; the outlier at 40 must not set the range.
        Assert.IsTrue(high is > 2f and < 10f && low is < -2f and > -10f, $"({low}, {high})");
    }

    [TestMethod]
    public void WhenBatchesRepeat_EveryEstimatorIsDeterministic()
    {
        var random = new Random(3);
        var data = Enumerable.Range(0, 5000).Select(_ => random.NextSingle() * 10 - 2).ToArray();
        foreach (var make in new Func<IRangeEstimator>[] { () => new MinMaxEstimator(), () => new PercentileEstimator(), () => new EntropyEstimator() })
        {
            var a = make();
            var b = make();
            foreach (var chunk in data.Chunk(700)) a.Observe(chunk);
            foreach (var chunk in data.Chunk(700)) b.Observe(chunk);
            Assert.AreEqual(a.Range(), b.Range(), a.GetType().Name);
        }
    }
}
