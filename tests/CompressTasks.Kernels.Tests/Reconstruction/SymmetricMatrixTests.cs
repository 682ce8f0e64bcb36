using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class SymmetricMatrixTests
{
    // Symmetric, a distinct value per unordered pair.
    private static double[] Full(int n)
    {
        var full = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) full[i * n + j] = Math.Min(i, j) * 100 + Math.Max(i, j) + 0.5;
        return full;
    }

    // NaN in every storage entry outside the kept triangle (R's strict upper one), which nothing may touch.
    internal static void PoisonOtherTriangle(SymmetricMatrix m)
    {
        int n = m.Order;
        var s = m.Storage;
        for (int a = 0; a < n; a++) s.Slice(a * n + a + 1, n - a - 1).Fill(float.NaN);
    }

    internal static void AssertOtherTriangleUntouched(SymmetricMatrix m)
    {
        int n = m.Order;
        var s = m.Storage;
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++)
                Assert.AreEqual(BitConverter.SingleToInt32Bits(float.NaN), BitConverter.SingleToInt32Bits(s[a * n + b]), $"storage [{a}, {b}] was written");
    }

    [TestMethod]
    public void WhenEntriesAreSetEitherWayRound_TheyAreOneEntry()
    {
        using var m = new SymmetricMatrix(5);
        m[1, 3] = 2.5f;
        Assert.AreEqual(2.5f, m[3, 1]);
        m[4, 0] = -1;
        Assert.AreEqual(-1f, m[0, 4]);
        Assert.AreEqual(0f, m[2, 2], "a new matrix is zero");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m[5, 0]);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => m[0, -1]);
        Assert.AreEqual(5L * 6 / 2 * sizeof(float), m.Bytes);
    }

    [TestMethod]
    public void WhenCopiedAddedOrConverted_OnlyTheKeptTriangleIsRead()
    {
        const int n = 37;
        var full = Full(n);
        using var m = SymmetricMatrix.FromDouble(full, n);
        PoisonOtherTriangle(m);
        using var copy = m.Clone();
        PoisonOtherTriangle(copy);
        copy.Add(m);
        var twice = copy.ToDouble();
        var back = m.ToDouble();
        for (int i = 0; i < n * n; i++)
        {
            Assert.AreEqual((float)full[i], back[i], $"entry {i}");
            Assert.AreEqual(2 * (float)full[i], twice[i], $"entry {i} doubled");
        }
        AssertOtherTriangleUntouched(m);
        AssertOtherTriangleUntouched(copy);
    }

    [TestMethod]
    public void WhenPermuted_EntryAbIsTheSourceEntryOfTheMappedRows()
    {
        const int n = 9;
        using var m = SymmetricMatrix.FromDouble(Full(n), n);
        PoisonOtherTriangle(m);
        // A permutation with a padding row (−1) in the middle: order 10.
        int[] order = [3, 0, 8, -1, 1, 2, 7, 6, 5, 4];
        using var again = m.Permuted(order);
        for (int a = 0; a < order.Length; a++)
            for (int b = 0; b < order.Length; b++)
            {
                float expected = order[a] < 0 || order[b] < 0 ? 0 : m[order[a], order[b]];
                Assert.AreEqual(expected, again[a, b], $"[{a}, {b}]");
            }
        AssertOtherTriangleUntouched(m);
        Assert.ThrowsExactly<ArgumentException>(() => m.Permuted([0, 9]));
    }

    [TestMethod]
    public void WhenDisposed_ItCannotBeRead()
    {
        var m = new SymmetricMatrix(3);
        m.Dispose();
        m.Dispose();
        Assert.ThrowsExactly<ObjectDisposedException>(() => m[0, 0]);
    }
}
