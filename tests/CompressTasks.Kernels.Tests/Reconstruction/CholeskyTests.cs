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
        var u = (double[])A.Clone();
        Assert.AreEqual(0, Cholesky.InverseUpperFactor(u, 3, 0));
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
    [DataRow(131)]
    [DataRow(300)]
    public void WhenTheLowerTriangleIsKept_ItIsUntouchedAndUIsTheSameFactor(int n)
    {
        // GPTQ keeps H's strict lower triangle beside U in one matrix. 300 takes the blocked inverse's off-diagonal
        // products, whose diagonal chunks then skip the (unzeroed) upper part of L⁻¹ instead of multiplying its zeros.
        var layer = new CorrelatedLayer(n, 1, n / 2, seed: n + 1); // fewer samples than features: singular, damped
        var plain = (double[])layer.H.Clone();
        double used = Cholesky.InverseUpperFactor(plain, n, 0.01);
        var kept = (double[])layer.H.Clone();
        double keptUsed = Cholesky.InverseUpperFactor(kept, n, 0.01, keepLower: true);
        Assert.AreEqual(used, keptUsed);
        double worst = 0, scale = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j < i; j++) Assert.AreEqual(layer.H[i * n + j], kept[i * n + j], $"H[{i}, {j}] kept");
            for (int j = i; j < n; j++)
            {
                worst = Math.Max(worst, Math.Abs(plain[i * n + j] - kept[i * n + j]));
                scale = Math.Max(scale, Math.Abs(plain[i * n + j]));
            }
        }
        TestContext.WriteLine($"n = {n}: max |U − U kept| = {worst:E2} of max |U| {scale:E2}");
        Assert.IsTrue(worst <= 1e-12 * scale, $"{worst}");
    }

    [TestMethod]
    [DataRow(70)]
    [DataRow(300)]
    public void WhenTheUpperTriangleIsToBeIgnored_ItIsNeitherReadNorWritten(int n)
    {
        var layer = new CorrelatedLayer(n, 1, 2 * n, seed: n);
        var l = (double[])layer.H.Clone();
        Assert.IsTrue(Cholesky.TryFactor(l, n));
        var expected = (double[])l.Clone();
        Cholesky.InvertLower(expected, n);
        // NaN above the diagonal: one read would spread it into the inverse.
        var poisoned = (double[])l.Clone();
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) poisoned[i * n + j] = double.NaN;
        Cholesky.InvertLower(poisoned, n, ignoreUpper: true);
        // The diagonal chunks sum in another order than the full products: equal up to rounding.
        double worst = 0, scale = 0;
        for (int i = 0; i < n; i++)
        {
            for (int j = 0; j <= i; j++)
            {
                worst = Math.Max(worst, Math.Abs(expected[i * n + j] - poisoned[i * n + j]));
                scale = Math.Max(scale, Math.Abs(expected[i * n + j]));
            }
            for (int j = i + 1; j < n; j++) Assert.IsTrue(double.IsNaN(poisoned[i * n + j]), "the upper triangle is not written");
        }
        TestContext.WriteLine($"n = {n}: max |L⁻¹ − L⁻¹ ignoring the upper triangle| = {worst:E2} of max {scale:E2}");
        Assert.IsTrue(worst <= 1e-12 * scale, $"{worst}");
    }

    [TestMethod]
    [DataRow(24)]
    [DataRow(131)]
    [DataRow(300)]
    public void WhenALargerMatrixIsInverted_UᵀUTimesAIsTheIdentityAndRunsAgreeBitForBit(int n)
    {
        // 300 takes the parallel blocks; 131 ends in a partial block; A = H of correlated samples, damped.
        var layer = new CorrelatedLayer(n, 1, 2 * n, seed: n);
        var u = (double[])layer.H.Clone();
        double used = Cholesky.InverseUpperFactor(u, n, 0.01);
        var again = (double[])layer.H.Clone();
        Cholesky.InverseUpperFactor(again, n, 0.01);
        CollectionAssert.AreEqual(u, again, "deterministic");
        double mean = 0;
        for (int i = 0; i < n; i++) mean += layer.H[i * n + i];
        double lambda = used * mean / n;
        // (UᵀU)(H + λ I) = I, checked on a few columns: x = (H + λ I) e_c, then Uᵀ U x.
        double worst = 0;
        for (int c = 0; c < n; c += 37)
        {
            var x = new double[n];
            for (int i = 0; i < n; i++) x[i] = layer.H[i * n + c] + (i == c ? lambda : 0);
            var ux = new double[n];
            for (int i = 0; i < n; i++) for (int k = i; k < n; k++) ux[i] += u[i * n + k] * x[k];
            for (int i = 0; i < n; i++)
            {
                double v = 0;
                for (int k = 0; k <= i; k++) v += u[k * n + i] * ux[k];
                worst = Math.Max(worst, Math.Abs(v - (i == c ? 1 : 0)));
            }
            for (int j = 0; j < c; j++) Assert.AreEqual(0, u[c * n + j], "U is upper triangular");
        }
        TestContext.WriteLine($"n = {n}: max |(UᵀU)A − I| over sampled columns {worst:E2}");
        Assert.IsTrue(worst < 1e-8, $"{worst}");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(7)]
    [DataRow(63)]
    [DataRow(64)]
    [DataRow(65)]
    [DataRow(130)]
    [DataRow(257)]
    public void WhenFactoredByBlocks_TheFactorMatchesTheTextbookLoopAndLLᵀIsA(int n)
    {
        var a = Definite(n, seed: n);
        var blocked = (double[])a.Clone();
        Assert.IsTrue(Cholesky.TryFactor(blocked, n));
        // Textbook order: L[i, j] = (A[i, j] − Σ_{k<j} L[i, k] L[j, k]) / L[j, j].
        var reference = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double d = a[j * n + j];
            for (int k = 0; k < j; k++) d -= reference[j * n + k] * reference[j * n + k];
            reference[j * n + j] = Math.Sqrt(d);
            for (int i = j + 1; i < n; i++)
            {
                double v = a[i * n + j];
                for (int k = 0; k < j; k++) v -= reference[i * n + k] * reference[j * n + k];
                reference[i * n + j] = v / reference[j * n + j];
            }
        }
        double worstFactor = 0, worstProduct = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                worstFactor = Math.Max(worstFactor, Math.Abs(blocked[i * n + j] - reference[i * n + j]));
                double v = 0;
                for (int k = 0; k <= Math.Min(i, j); k++) v += blocked[i * n + k] * blocked[j * n + k];
                worstProduct = Math.Max(worstProduct, Math.Abs(v - a[i * n + j]));
            }
        TestContext.WriteLine($"n = {n}: max |L − L_ref| = {worstFactor:E2}, max |L Lᵀ − A| = {worstProduct:E2}");
        Assert.IsTrue(worstFactor < 1e-9, $"{worstFactor}");
        Assert.IsTrue(worstProduct < 1e-9 * n, $"{worstProduct}");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(9)]
    [DataRow(64)]
    [DataRow(100)]
    [DataRow(200)]
    public void WhenALowerFactorIsInverted_LTimesItsInverseIsTheIdentity(int n)
    {
        var l = Definite(n, seed: 7 * n);
        Assert.IsTrue(Cholesky.TryFactor(l, n));
        var x = (double[])l.Clone();
        Cholesky.InvertLower(x, n);
        double worst = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                if (j > i) Assert.AreEqual(0, x[i * n + j], "the inverse is lower triangular");
                double v = 0;
                for (int k = j; k <= i; k++) v += l[i * n + k] * x[k * n + j];
                worst = Math.Max(worst, Math.Abs(v - (i == j ? 1 : 0)));
            }
        TestContext.WriteLine($"n = {n}: max |L L⁻¹ − I| = {worst:E2}");
        Assert.IsTrue(worst < 1e-10, $"{worst}");
    }

    [TestMethod]
    public void WhenAFactorizationFailsPartWay_DampingRestartsFromTheUntouchedUpperTriangle()
    {
        // Definite except that the last input copies the first: fails at the last block's final pivot undamped.
        const int n = 150;
        var a = Definite(n, seed: 3);
        for (int j = 0; j < n; j++) a[(n - 1) * n + j] = a[j * n + n - 1] = a[j];
        a[(n - 1) * n + n - 1] = a[0];
        var h = (double[])a.Clone();
        double used = Cholesky.FactorDamped(a, n, 0);
        Assert.IsTrue(used > 0);
        double mean = 0;
        for (int i = 0; i < n; i++) mean += h[i * n + i];
        double lambda = used * mean / n, worst = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double v = 0;
                for (int k = 0; k <= j; k++) v += a[i * n + k] * a[j * n + k];
                worst = Math.Max(worst, Math.Abs(v - h[i * n + j] - (i == j ? lambda : 0)));
            }
        TestContext.WriteLine($"damp used {used}, max |L Lᵀ − (H + λ I)| = {worst:E2}");
        Assert.IsTrue(worst < 1e-8, $"{worst}");
    }

    // B Bᵀ + n I for a random B: symmetric and well conditioned.
    private static double[] Definite(int n, int seed)
    {
        var random = new Random(seed);
        var b = new double[n * n];
        for (int i = 0; i < b.Length; i++) b[i] = random.NextDouble() - 0.5;
        var a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j <= i; j++)
            {
                double v = i == j ? n : 0;
                for (int k = 0; k < n; k++) v += b[i * n + k] * b[j * n + k];
                a[i * n + j] = a[j * n + i] = v;
            }
        return a;
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
