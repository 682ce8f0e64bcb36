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
        var t = new float[k * m];
        for (int s = 0; s < m; s++) for (int i = 0; i < k; i++) t[i * m + s] = x[s * k + i];
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
}
