using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class LayerErrorTests
{
    [TestMethod]
    [DataRow(1, 1)]
    [DataRow(5, 3)]
    [DataRow(33, 9)]
    [DataRow(70, 17)]
    [DataRow(300, 40)]
    public void WhenTermsAreTaken_TheyAreTheOutputErrorsSummedOverTheSamples(int k, int n)
    {
        // 300 × 40 takes the parallel blocks; the others end in partial row blocks and column tiles.
        var layer = new CorrelatedLayer(k, n, 2 * k + 3, seed: k + n);
        var random = new Random(k * n);
        var compressed = new float[layer.W.Length];
        for (int i = 0; i < compressed.Length; i++) compressed[i] = layer.W[i] + (float)(0.01 * (random.NextDouble() - 0.5));
        var (error, reference) = LayerError.Terms(layer.H, layer.W, compressed, k, n);
        // Σ_x ‖(W − Ŵ)ᵀ x‖² and Σ_x ‖Wᵀ x‖² straight from the samples.
        double expectedError = 0, expectedReference = 0;
        for (int s = 0; s < layer.Samples; s++)
            for (int c = 0; c < n; c++)
            {
                double y = 0, dy = 0;
                for (int i = 0; i < k; i++)
                {
                    double x = layer.X[s * k + i];
                    y += layer.W[i * n + c] * x;
                    dy += ((double)layer.W[i * n + c] - compressed[i * n + c]) * x;
                }
                expectedError += dy * dy;
                expectedReference += y * y;
            }
        Assert.AreEqual(expectedError, error, 1e-6 * expectedError);
        Assert.AreEqual(expectedReference, reference, 1e-6 * expectedReference);
        Assert.AreEqual(error, LayerError.Error(layer.H, layer.W, compressed, k, n), "Error alone is the same sum as Terms' error");
    }

    [TestMethod]
    [DataRow(5, 3)]
    [DataRow(70, 17)]
    [DataRow(300, 40)]
    public void WhenHIsGivenByItsLowerTriangleAndDiagonal_TheQuadraticIsTheFullOnes(int k, int n)
    {
        var layer = new CorrelatedLayer(k, n, 2 * k + 3, seed: k * n);
        var random = new Random(k);
        var m = new double[k * n];
        for (int i = 0; i < m.Length; i++) m[i] = random.NextDouble() - 0.5;
        var w = Array.ConvertAll(m, v => (float)v);
        double full = LayerError.Error(layer.H, w, new float[w.Length], k, n);
        // The upper triangle and the diagonal poisoned: only the strict lower triangle and the diagonal apart count.
        var lower = (double[])layer.H.Clone();
        var diagonal = new double[k];
        for (int i = 0; i < k; i++)
        {
            diagonal[i] = lower[i * k + i];
            for (int j = i; j < k; j++) lower[i * k + j] = double.NaN;
        }
        double fromLower = LayerError.QuadraticFromLower(lower, diagonal, Array.ConvertAll(w, v => (double)v), k, n);
        Assert.AreEqual(full, fromLower, Math.Abs(full) * 1e-12);
    }

    [TestMethod]
    [DataRow(5, 3)]
    [DataRow(70, 17)]
    [DataRow(300, 64)]
    public void WhenHIsASymmetricMatrix_TheTermsAreTheDoubleOnesOnTheSameH(int k, int n)
    {
        // 70 and 300 are not multiples of the 32-row blocks; 300 × 64 takes the parallel blocks and two depth blocks
        // after the first row block. The double overloads get the same (float) H in full: only the order of the
        // double sums differs, so they agree to 1e-10 relative. The triangle not kept is poisoned and must stay so.
        var layer = new CorrelatedLayer(k, n, 2 * k + 3, seed: k + 2 * n);
        using var h = SecondMomentTests.Poisoned(k);
        SecondMoment.Accumulate(layer.X, k, h, new double[k]);
        var full = h.ToDouble();
        var random = new Random(k * n + 1);
        var compressed = new float[layer.W.Length];
        for (int i = 0; i < compressed.Length; i++) compressed[i] = layer.W[i] + (float)(0.01 * (random.NextDouble() - 0.5));

        var (error, reference) = LayerError.Terms(h, layer.W, compressed, k, n);
        var (expectedError, expectedReference) = LayerError.Terms(full, layer.W, compressed, k, n);
        Assert.IsTrue(expectedError > 0 && expectedReference > 0);
        Assert.AreEqual(expectedError, error, 1e-10 * expectedError);
        Assert.AreEqual(expectedReference, reference, 1e-10 * expectedReference);
        Assert.AreEqual(error, LayerError.Error(h, layer.W, compressed, k, n), "Error alone is the same sum as Terms' error");
        Assert.AreEqual(reference, LayerError.Terms(h, layer.W, compressed, k, n).Reference, "the same bits again");
        SecondMomentTests.AssertUntouched(h);
    }
}
