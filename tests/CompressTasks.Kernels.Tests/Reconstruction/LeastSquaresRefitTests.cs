using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class LeastSquaresRefitTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void WhenRemovedInputsAreCombinationsOfKeptOnes_TheRefitReproducesTheTeacher()
    {
        // 24 kept inputs, free; 8 removed inputs, each a fixed combination of kept ones.
        const int kept = 24, removed = 8, k = kept + removed, n = 10, samples = 300;
        var random = new Random(41);
        var combination = new double[removed * kept];
        for (int i = 0; i < combination.Length; i++) combination[i] = CorrelatedLayer.Gaussian(random) * 0.5;
        var x = new float[samples * k];
        for (int s = 0; s < samples; s++)
        {
            for (int i = 0; i < kept; i++) x[s * k + i] = (float)CorrelatedLayer.Gaussian(random);
            for (int r = 0; r < removed; r++)
            {
                double v = 0;
                for (int i = 0; i < kept; i++) v += combination[r * kept + i] * x[s * k + i];
                x[s * k + kept + r] = (float)v;
            }
        }
        var w = new float[k * n];
        for (int i = 0; i < w.Length; i++) w[i] = (float)CorrelatedLayer.Gaussian(random);
        var h = new double[k * k];
        SecondMoment.Accumulate(x, k, h, new double[k]);

        var keep = Enumerable.Range(0, kept).ToArray();
        var refit = new float[kept * n];
        double damp = LeastSquaresRefit.Solve(h, w, k, n, keep, 1e-9, refit);

        // Dropping the removed rows alone vs the refit, measured on the samples.
        double dropped = Error(x, w, k, n, samples, w.AsSpan(0, kept * n).ToArray()), refitted = Error(x, w, k, n, samples, refit);
        TestContext.WriteLine($"relative output error: rows dropped {dropped:E3}, refit {refitted:E3} (damp {damp})");
        Assert.IsTrue(dropped > 0.1, "dropping the inputs alone loses a lot");
        Assert.IsTrue(refitted < 1e-8, $"{refitted}");
    }

    private static double Error(float[] x, float[] w, int k, int n, int samples, float[] student)
    {
        int kept = student.Length / n;
        double error = 0, reference = 0;
        for (int s = 0; s < samples; s++)
            for (int c = 0; c < n; c++)
            {
                double y = 0, yHat = 0;
                for (int i = 0; i < k; i++) y += (double)x[s * k + i] * w[i * n + c];
                for (int i = 0; i < kept; i++) yHat += (double)x[s * k + i] * student[i * n + c];
                error += (y - yHat) * (y - yHat);
                reference += y * y;
            }
        return error / reference;
    }
}
