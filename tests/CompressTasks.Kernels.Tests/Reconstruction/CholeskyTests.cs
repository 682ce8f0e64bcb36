using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class CholeskyTests
{
    public TestContext TestContext { get; set; } = null!;

    // A = [[4, 2, 2], [2, 5, 3], [2, 3, 6]] = L Lᵀ with L = [[2, 0, 0], [1, 2, 0], [1, 1, 2]] (by hand:
    // L00 = √4; L10 = 2/2, L20 = 2/2; L11 = √(5 − 1); L21 = (3 − 1·1)/2; L22 = √(6 − 1 − 1)).
    private static readonly double[] A = [4, 2, 2, 2, 5, 3, 2, 3, 6];
    private static readonly double[] L = [2, 0, 0, 1, 2, 0, 1, 1, 2];

    [TestMethod]
    public void WhenASmallMatrixIsFactored_ItIsTheHandComputedFactor()
    {
        var a = (double[])A.Clone();
        Assert.IsTrue(Cholesky.TryFactor(a, 3));
        CollectionAssert.AreEqual(L, a);
    }

    [TestMethod]
    public void WhenSolvingWithTheFactor_TheHandComputedSolutionComesOut()
    {
        // A x = b with x = [1, −1, 2] (two right-hand sides: x and 2x): b = A x = [6, 3, 11].
        var b = new double[] { 6, 12, 3, 6, 11, 22 };
        Cholesky.SolveLower(L, 3, b, 2);
        // L y = b: y = [3, 0, 4] by forward substitution (3, (3 − 3)/2, (11 − 3 − 0)/2).
        CollectionAssert.AreEqual(new double[] { 3, 6, 0, 0, 4, 8 }, b);
        Cholesky.SolveLowerTransposed(L, 3, b, 2);
        CollectionAssert.AreEqual(new double[] { 1, 2, -1, -2, 2, 4 }, b);
    }

    [TestMethod]
    public void WhenTheInverseFactorIsTaken_ItsSquareIsTheInverse()
    {
        var u = (double[])L.Clone();
        Cholesky.InverseUpperFactor(u, 3);
        // Uᵀ U · A must be the identity.
        double worst = 0;
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
            {
                double v = 0;
                for (int m = 0; m < 3; m++)
                {
                    double inv = 0;
                    for (int r = 0; r < 3; r++) inv += u[r * 3 + i] * u[r * 3 + m];
                    v += inv * A[m * 3 + j];
                }
                worst = Math.Max(worst, Math.Abs(v - (i == j ? 1 : 0)));
                if (j < i) Assert.AreEqual(0, u[i * 3 + j], "U is upper triangular");
            }
        TestContext.WriteLine($"max |Uᵀ U A − I| = {worst:E2}");
        Assert.IsTrue(worst < 1e-12, $"{worst}");
    }

    [TestMethod]
    [DataRow(24)]
    [DataRow(300)]
    public void WhenALargerMatrixIsInverted_UᵀUTimesAIsTheIdentityAndRunsAgreeBitForBit(int n)
    {
        // 300 takes the parallel rows; A = H of correlated samples, damped.
        var layer = new CorrelatedLayer(n, 1, 2 * n, seed: n);
        var a = (double[])layer.H.Clone();
        Cholesky.FactorDamped(a, n, 0.01);
        var u = (double[])a.Clone();
        Cholesky.InverseUpperFactor(u, n);
        var again = (double[])a.Clone();
        Cholesky.InverseUpperFactor(again, n);
        CollectionAssert.AreEqual(u, again, "deterministic");
        // (UᵀU)(L Lᵀ) = I, checked on a few columns: x = L Lᵀ e_c, then Uᵀ U x.
        double worst = 0;
        for (int c = 0; c < n; c += 37)
        {
            var x = new double[n];
            for (int i = 0; i < n; i++) for (int k = 0; k <= Math.Min(i, c); k++) x[i] += a[i * n + k] * a[c * n + k];
            var ux = new double[n];
            for (int i = 0; i < n; i++) for (int k = i; k < n; k++) ux[i] += u[i * n + k] * x[k];
            for (int i = 0; i < n; i++)
            {
                double v = 0;
                for (int k = 0; k <= i; k++) v += u[k * n + i] * ux[k];
                worst = Math.Max(worst, Math.Abs(v - (i == c ? 1 : 0)));
            }
        }
        TestContext.WriteLine($"n = {n}: max |(UᵀU)A − I| over sampled columns {worst:E2}");
        Assert.IsTrue(worst < 1e-8, $"{worst}");
    }

    [TestMethod]
    [DataRow(0.01)]
    [DataRow(0.0)]
    public void WhenHIsSingular_DampingKeepsItSolvable(double damp)
    {
        // Rank 1 (x always along [1, 2, 3]) plus a dead input: plain Cholesky fails, the damped one succeeds.
        double[] h = [1, 2, 3, 0, 2, 4, 6, 0, 3, 6, 9, 0, 0, 0, 0, 0];
        Assert.IsFalse(Cholesky.TryFactor((double[])h.Clone(), 4));
        var a = (double[])h.Clone();
        double used = Cholesky.FactorDamped(a, 4, damp);
        TestContext.WriteLine($"damp asked {damp}, used {used}");
        Assert.IsTrue(used >= damp && used > 0);
        foreach (var v in a) Assert.IsTrue(double.IsFinite(v));
        var b = new double[] { 1, 1, 1, 1 };
        Cholesky.SolveLower(a, 4, b, 1);
        Cholesky.SolveLowerTransposed(a, 4, b, 1);
        // Check (H + λ I) b = 1 with λ = used · mean diag (= used · 14/4).
        double lambda = used * 14 / 4.0;
        for (int i = 0; i < 4; i++)
        {
            double r = lambda * b[i];
            for (int j = 0; j < 4; j++) r += h[i * 4 + j] * b[j];
            Assert.AreEqual(1, r, 1e-6, $"row {i}");
        }
    }
}
