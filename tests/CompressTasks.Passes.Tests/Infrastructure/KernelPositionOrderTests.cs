using CompressTasks.Kernels.Reconstruction;
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

    // H gathered is the rows' gather applied to rows and columns alike (padding zero); reordering gives H up.
    [TestMethod]
    [DataRow(6, 9, 1)]
    [DataRow(8, 9, 4)]
    [DataRow(5, 4, 4)]
    public void WhenHIsReordered_ItIsTheRowGatherAppliedOnBothSides(int channels, int positions, int align)
    {
        var order = new KernelPositionOrder(channels, positions, align);
        int k = channels * positions, rows = order.Rows;
        // Symmetric, and every unordered pair (i, j) has its own value.
        var full = new double[k * k];
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) full[i * k + j] = Math.Min(i, j) * 1000 + Math.Max(i, j) + 1;
        var byRows = order.Gather(Array.ConvertAll(full, v => (float)v), k);
        var transposed = new float[k * rows];
        for (int a = 0; a < rows; a++)
            for (int j = 0; j < k; j++) transposed[j * rows + a] = byRows[a * k + j];
        var expected = order.Gather(transposed, rows);
        using var h = SymmetricMatrix.FromDouble(full, k);
        using var gathered = order.Gather(h);
        var given = h.Clone();
        using var reordered = order.Reorder(given);
        Assert.AreEqual(rows, gathered.Order);
        for (int a = 0; a < rows; a++)
            for (int b = 0; b < rows; b++)
            {
                Assert.AreEqual(expected[b * rows + a], gathered[a, b], $"[{a}, {b}]");
                Assert.AreEqual(gathered[a, b], reordered[a, b]);
            }
        Assert.ThrowsExactly<ObjectDisposedException>(() => given[0, 0], "Reorder gives up the H it was handed");
    }
}
