using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class SparseGptTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(0.5, 0)]
    [DataRow(0.7, 0)]
    [DataRow(0.0, 2)]
    public void WhenInputsAreCorrelated_SparseGptOutputErrorIsBelowMagnitudePruning(double sparsity, int pruneN)
    {
        var layer = new CorrelatedLayer(128, 48, 512, seed: 21 + pruneN);
        var magnitude = (float[])layer.W.Clone();
        int zeroedByMagnitude = pruneN > 0 ? PruneMagnitudeNM(magnitude, layer.K, layer.N, pruneN, 4) : PruneMagnitude(magnitude, sparsity);

        var sparse = (float[])layer.W.Clone();
        using (var h = layer.Symmetric()) SparseGpt.Prune(layer.W, sparse, layer.K, layer.N, h, new SparseGptOptions(sparsity, pruneN, 4, BlockSize: 32));

        int zeros = sparse.Count(v => v == 0);
        double magnitudeError = layer.OutputError(magnitude), sparseError = layer.OutputError(sparse);
        string pattern = pruneN > 0 ? $"{pruneN}:4" : $"{sparsity:P0} unstructured";
        TestContext.WriteLine($"{pattern}: zeros magnitude {zeroedByMagnitude}, SparseGPT {zeros} of {sparse.Length}; relative output error magnitude {magnitudeError:E3}, SparseGPT {sparseError:E3} ({magnitudeError / sparseError:F2}× lower)");
        Assert.AreEqual(zeroedByMagnitude, zeros, "the same number of zeros");
        Assert.IsTrue(sparseError < magnitudeError, $"SparseGPT {sparseError} vs magnitude {magnitudeError}");
        if (pruneN > 0)
        {
            // Every group of 4 consecutive inputs holds at least 2 zeros in every output column.
            for (int c = 0; c < layer.N; c++)
                for (int g = 0; g < layer.K; g += 4)
                {
                    int z = 0;
                    for (int r = g; r < g + 4; r++) if (sparse[r * layer.N + c] == 0) z++;
                    Assert.IsTrue(z >= pruneN, $"column {c}, rows {g}…{g + 3}: {z} zeros");
                }
        }
    }

    // The baseline: per output column, the smallest |w| fraction zeroed.
    private static int PruneMagnitude(float[] w, double sparsity)
    {
        int k = 128, n = 48, count = (int)(sparsity * k), zeros = 0;
        var column = new float[k];
        var index = new int[k];
        for (int c = 0; c < n; c++)
        {
            for (int r = 0; r < k; r++) { column[r] = Math.Abs(w[r * n + c]); index[r] = r; }
            Array.Sort(column, index);
            for (int r = 0; r < count; r++) { w[index[r] * n + c] = 0; zeros++; }
        }
        return zeros;
    }

    private static int PruneMagnitudeNM(float[] w, int k, int n, int pruneN, int m)
    {
        int zeros = 0;
        var magnitudes = new float[m];
        var index = new int[m];
        for (int c = 0; c < n; c++)
            for (int g = 0; g < k; g += m)
            {
                for (int r = 0; r < m; r++) { magnitudes[r] = Math.Abs(w[(g + r) * n + c]); index[r] = g + r; }
                Array.Sort(magnitudes, index);
                for (int r = 0; r < pruneN; r++) { w[index[r] * n + c] = 0; zeros++; }
            }
        return zeros;
    }
}
