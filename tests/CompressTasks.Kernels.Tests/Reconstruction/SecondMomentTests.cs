using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class SecondMomentTests
{
    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(3, 5)]
    [DataRow(17, 130)]
    [DataRow(96, 200)]
    [DataRow(150, 70)]
    public void WhenSamplesAreAccumulated_HIsTheSumOfOuterProducts(int k, int m)
    {
        var random = new Random(k * 1000 + m);
        var x = new float[m * k];
        for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
        var h = new double[k * k];
        var sum = new double[k];
        // Two calls (a split batch) must equal the sums over all rows.
        int split = m / 3;
        SecondMoment.Accumulate(x.AsSpan(0, split * k), k, h, sum);
        SecondMoment.Accumulate(x.AsSpan(split * k), k, h, sum);
        // Transposed input [K, m] gives the same.
        var t = Transposed(x, m, k);
        var h2 = new double[k * k];
        var sum2 = new double[k];
        SecondMoment.AccumulateTransposed(t, k, h2, sum2);
        for (int i = 0; i < k; i++)
        {
            double expectedSum = 0;
            for (int s = 0; s < m; s++) expectedSum += x[s * k + i];
            Assert.AreEqual(expectedSum, sum[i], 1e-9 * m);
            Assert.AreEqual(expectedSum, sum2[i], 1e-9 * m);
            for (int j = 0; j < k; j++)
            {
                double expected = 0;
                for (int s = 0; s < m; s++) expected += (double)x[s * k + i] * x[s * k + j];
                Assert.AreEqual(expected, h[i * k + j], 1e-5 * m, $"H[{i}, {j}]");
                Assert.AreEqual(h[i * k + j], h[j * k + i], "symmetric");
                Assert.AreEqual(expected, h2[i * k + j], 1e-5 * m, $"H[{i}, {j}] from transposed samples");
            }
        }
    }

    [TestMethod]
    public void WhenRunTwice_TheBitsAreTheSame()
    {
        var layer1 = new CorrelatedLayer(300, 4, 257, seed: 5);
        var layer2 = new CorrelatedLayer(300, 4, 257, seed: 5);
        CollectionAssert.AreEqual(layer1.H, layer2.H);
    }

    [TestMethod]
    [DataRow(1, 130, false)]
    [DataRow(1, 130, true)]
    [DataRow(7, 65, false)]
    [DataRow(7, 65, true)]
    [DataRow(64, 200, false)]
    [DataRow(64, 200, true)]
    [DataRow(300, 129, false)]
    [DataRow(300, 129, true)]
    public void WhenAccumulatedInFloat_HAgreesWithTheDoublePath(int k, int m, bool transposed)
    {
        // The double path (CorrelatedLayer's H, one call) against the float one in two calls (a split batch), the
        // triangle R must not touch poisoned.
        var layer = new CorrelatedLayer(k, 1, m, seed: 7 * k + m);
        using var h = Poisoned(k);
        var sum = new double[k];
        int split = m / 3;
        var first = layer.X.AsSpan(0, split * k).ToArray();
        var rest = layer.X.AsSpan(split * k).ToArray();
        if (transposed)
        {
            SecondMoment.AccumulateTransposed(Transposed(first, split, k), k, h, sum);
            SecondMoment.AccumulateTransposed(Transposed(rest, m - split, k), k, h, sum);
        }
        else
        {
            SecondMoment.Accumulate(first, k, h, sum);
            SecondMoment.Accumulate(rest, k, h, sum);
        }
        int blocks = (split + SecondMoment.BlockRows - 1) / SecondMoment.BlockRows + (m - split + SecondMoment.BlockRows - 1) / SecondMoment.BlockRows;
        AssertAgrees(layer.H, h, blocks);
        for (int i = 0; i < k; i++) Assert.AreEqual(layer.Sum[i], sum[i], 1e-12 * m, $"sum {i}");
    }

    [TestMethod]
    public void WhenAccumulatedInFloatTwice_TheBitsAreTheSame()
    {
        // K = 300 with 64-sample blocks shares the quads of rows out over threads.
        var layer = new CorrelatedLayer(300, 1, 257, seed: 11);
        using var first = new SymmetricMatrix(300);
        using var second = new SymmetricMatrix(300);
        SecondMoment.Accumulate(layer.X, 300, first, new double[300]);
        SecondMoment.Accumulate(layer.X, 300, second, new double[300]);
        CollectionAssert.AreEqual(first.ToDouble(), second.ToDouble());
    }

    /// <summary>
    /// A zero matrix whose storage above R's diagonal (the triangle kernels must never touch: its pages are not
    /// backed) holds NaN, so that any read of it spreads and any write shows.
    /// </summary>
    internal static SymmetricMatrix Poisoned(int order)
    {
        var h = new SymmetricMatrix(order);
        var storage = h.Storage;
        for (int a = 0; a < order; a++) storage.Slice(a * order + a + 1, order - 1 - a).Fill(float.NaN);
        return h;
    }

    /// <summary>Every poisoned entry of <see cref="Poisoned"/>'s storage is still NaN.</summary>
    internal static void AssertUntouched(SymmetricMatrix h)
    {
        int n = h.Order;
        var storage = h.Storage;
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++)
                if (!float.IsNaN(storage[a * n + b])) Assert.Fail($"storage [{a}, {b}] above R's diagonal was written");
    }

    /// <summary>
    /// The float H of <paramref name="blocks"/> 64-sample blocks against the double path's <paramref name="expected"/>
    /// [K, K], to the bound of the remarks on <see cref="SecondMoment"/>: both paths' float block sums may differ (the
    /// reversed order puts other entries in tiles) by 64 · 2⁻²⁴ each, float accumulation adds B · 2⁻²⁴ and the last
    /// rounding one more, all of Σ|xᵢxⱼ| ≤ √(Hᵢᵢ Hⱼⱼ). The kept triangle is finite, the other untouched.
    /// </summary>
    internal static void AssertAgrees(ReadOnlySpan<double> expected, SymmetricMatrix actual, int blocks)
    {
        AssertUntouched(actual);
        int k = actual.Order;
        var h = actual.ToDouble();
        double bound = (2 * SecondMoment.BlockRows + blocks + 1) * Math.Pow(2, -24);
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++)
            {
                Assert.IsTrue(double.IsFinite(h[i * k + j]), $"H[{i}, {j}] = {h[i * k + j]}");
                double scale = Math.Sqrt(expected[i * k + i] * expected[j * k + j]);
                Assert.AreEqual(expected[i * k + j], h[i * k + j], bound * scale, $"H[{i}, {j}]");
            }
    }

    /// <summary>Samples [m, K] as columns [K, m].</summary>
    private static float[] Transposed(float[] x, int m, int k)
    {
        var t = new float[k * m];
        for (int s = 0; s < m; s++) for (int i = 0; i < k; i++) t[i * m + s] = x[s * k + i];
        return t;
    }
}
