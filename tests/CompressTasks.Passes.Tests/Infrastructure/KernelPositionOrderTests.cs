using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Tests.Infrastructure;

[TestClass]
public sealed class KernelPositionOrderTests
{
    // Patch row c·S + s goes to s·C' + c; padded rows are zero; scattering gives the patch order back.
    [TestMethod]
    [DataRow(5, 4, 1)]
    [DataRow(5, 4, 4)]   // C' = 8: three zero rows per position
    [DataRow(8, 9, 4)]
    [DataRow(3, 1, 16)]
    public void WhenRowsAreGatheredAndScattered_EachPositionsChannelsAreContiguousAndTheOriginalComesBack(int channels, int positions, int align)
    {
        var order = new KernelPositionOrder(channels, positions, align);
        int k = channels * positions, n = 3, padded = (channels + align - 1) / align * align;
        Assert.AreEqual(positions * padded, order.Rows);
        var w = Enumerable.Range(0, k * n).Select(i => (float)(i + 1)).ToArray();
        var gathered = order.Gather(w, n);
        for (int s = 0; s < positions; s++)
            for (int c = 0; c < padded; c++)
                for (int j = 0; j < n; j++)
                    Assert.AreEqual(c < channels ? w[(c * positions + s) * n + j] : 0f, gathered[(s * padded + c) * n + j], $"position {s}, channel {c}");
        var back = new float[w.Length];
        order.Scatter(gathered, back, n);
        CollectionAssert.AreEqual(w, back);
    }

    // H reordered in place (no padding) is exactly the gathered copy; with padding it is the larger copy.
    [TestMethod]
    [DataRow(6, 9, 1)]
    [DataRow(8, 9, 4)]
    [DataRow(5, 4, 4)]
    public void WhenHIsReordered_ItEqualsTheGatheredCopy(int channels, int positions, int align)
    {
        var order = new KernelPositionOrder(channels, positions, align);
        int k = channels * positions;
        var h = Enumerable.Range(0, k * k).Select(i => (double)(i % k * 1000 + i / k)).ToArray();
        var expected = order.Gather(h);
        var reordered = order.Reorder(h);
        CollectionAssert.AreEqual(expected, reordered);
        Assert.AreEqual(order.Rows == k, ReferenceEquals(h, reordered), "in place exactly when nothing is padded");
    }
}
