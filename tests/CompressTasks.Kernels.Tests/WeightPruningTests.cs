namespace CompressTasks.Kernels.Tests;

[TestClass]
public sealed class WeightPruningTests
{
    // Every length 1…64 plus a few large ones, with ties (values drawn from a small set) and without.
    public static IEnumerable<object[]> Lengths() =>
        Enumerable.Range(1, 64).Concat([255, 1000, 4097]).SelectMany(n => new[] { new object[] { n, true }, [n, false] });

    private static float[] Values(int n, bool ties, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, n).Select(_ => ties ? random.Next(-4, 5) * 0.25f : random.NextSingle() * 2 - 1)];
    }

    [TestMethod]
    [DynamicData(nameof(Lengths))]
    public void WhenSelectingTheKthMagnitude_ItEqualsTheSortedOracle(int n, bool ties)
    {
        var values = Values(n, ties, n);
        var sorted = values.Select(MathF.Abs).Order().ToArray();
        var scratch = new float[n];
        foreach (int k in new[] { 1, (n + 1) / 2, n })
            Assert.AreEqual(sorted[k - 1], WeightPruning.KthSmallestMagnitude(values, k, scratch), $"k={k}");
    }

    [TestMethod]
    [DynamicData(nameof(Lengths))]
    public void WhenZeroingTheSmallest_ExactlyKNewZerosAppearAndTiesGoByIndex(int n, bool ties)
    {
        var values = Values(n, ties, n + 1);
        long zerosBefore = values.Count(v => v == 0);
        long k = Math.Max(zerosBefore, n * 6L / 10);
        var pruned = (float[])values.Clone();
        Assert.AreEqual(k, WeightPruning.ZeroSmallest(pruned, k));
        // Oracle: stable sort of indices by magnitude, the first k become zero.
        var order = Enumerable.Range(0, n).OrderBy(i => MathF.Abs(values[i])).ThenBy(i => i).ToArray();
        var expected = (float[])values.Clone();
        foreach (int i in order.Take((int)k)) expected[i] = 0;
        CollectionAssert.AreEqual(expected, pruned);
    }

    [TestMethod]
    [DataRow(2, 4, 1, 8, 1)]
    [DataRow(2, 4, 3, 4, 5)]
    [DataRow(1, 4, 2, 8, 2)]
    [DataRow(4, 8, 1, 16, 3)]
    public void WhenPruningNofM_EachGroupAlongKKeepsItsNLargest(int n, int m, int outer, int k, int inner)
    {
        var values = Values(outer * k * inner, false, 7);
        var pruned = (float[])values.Clone();
        WeightPruning.ZeroNofM(pruned, outer, k, inner, n, m);
        for (int o = 0; o < outer; o++)
            for (int g = 0; g < k; g += m)
                for (int i = 0; i < inner; i++)
                {
                    var idx = Enumerable.Range(0, m).Select(j => (o * k + g + j) * inner + i).ToArray();
                    var keep = idx.OrderByDescending(x => MathF.Abs(values[x])).Take(n).ToHashSet();
                    foreach (int x in idx) Assert.AreEqual(keep.Contains(x) ? values[x] : 0f, pruned[x]);
                }
    }

    [TestMethod]
    public void WhenClampingAtAPercentile_OnlyTheTailChanges()
    {
        var values = Enumerable.Range(1, 100).Select(i => (float)(i % 2 == 0 ? i : -i)).ToArray();
        float bound = WeightPruning.MagnitudePercentile(values, 0.95, new float[100]);
        Assert.AreEqual(95f, bound);
        Assert.AreEqual(5, WeightPruning.Clamp(values, -bound, bound));
        Assert.AreEqual(95f, values.Max());
        Assert.AreEqual(-95f, values.Min());
    }

    [TestMethod]
    public void WhenKeepingChannels_FactorGroupsMoveTogether()
    {
        // [outer 2, channels 3 × factor 2, inner 1]: keep channels 0 and 2.
        var values = Enumerable.Range(0, 12).Select(i => (float)i).ToArray();
        var kept = WeightPruning.KeepChannels(values, 2, 3, 2, 1, [0, 2]);
        CollectionAssert.AreEqual(new float[] { 0, 1, 4, 5, 6, 7, 10, 11 }, kept);
        var norms = new double[3];
        WeightPruning.AddChannelNorms(values, 2, 3, 2, l2: false, norms);
        CollectionAssert.AreEqual(new double[] { 0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11 }, norms);
    }
}
