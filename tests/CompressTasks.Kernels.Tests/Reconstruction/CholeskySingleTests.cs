using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

/// <summary>
/// <see cref="Cholesky.InverseUpperFactor(SymmetricMatrix, double)"/>: the float, one-triangle inverse factor against
/// the double one on the same (float) H, its defining identity, the untouched triangle and the damping retries.
/// </summary>
[TestClass]
public sealed class CholeskySingleTests
{
    public TestContext TestContext { get; set; } = null!;

    // A NaN with a payload of its own, so that "still poisoned" means these very bits.
    private static readonly float Poison = BitConverter.Int32BitsToSingle(0x7FC0_5A5A);

    [TestMethod]
    [DataRow(3)]
    [DataRow(64)]
    [DataRow(200)]
    [DataRow(700)]
    public void WhenHIsCorrelated_UAgreesWithTheDoubleFactorOfTheSameH(int k)
    {
        // Fewer samples than features: H is singular, and only the damping (λ = 0.01 mean diag) makes it definite, with
        // a condition number near 10³. 700 takes the parallel blocks; 200 and 700 end in partial blocks.
        using var h = Correlated(k, samples: Math.Max(1, k / 2), seed: k);
        var reference = h.ToDouble();
        double expectedUsed = Cholesky.InverseUpperFactor(reference, k, 0.01);
        double used = Cholesky.InverseUpperFactor(h, 0.01);
        Assert.AreEqual(expectedUsed, used);
        // Float storage and float sums against double: a few float ulps times the condition number, relative (measured
        // up to 2·10⁻⁵).
        double difference = RelativeDifference(h, reference);
        TestContext.WriteLine($"K = {k}: max |U − U_double| / max |U_double| = {difference:E2}");
        Assert.IsTrue(difference < 2e-4, $"{difference}");
    }

    [TestMethod]
    [DataRow(64)]
    [DataRow(200)]
    [DataRow(700)]
    public void WhenTheInverseFactorIsTaken_UᵀUTimesTheDampedHIsTheIdentity(int k)
    {
        using var h = Correlated(k, samples: 2 * k, seed: k + 5);
        var before = h.ToDouble();
        double used = Cholesky.InverseUpperFactor(h, 0.01);
        double lambda = used * MeanDiagonal(before, k);
        for (int i = 0; i < k; i++) before[i * k + i] += lambda;
        double residual = IdentityResidual(h, before);
        TestContext.WriteLine($"K = {k}: max |(UᵀU)(H + λI) − I| over sampled columns = {residual:E2}");
        // Float's ε (6·10⁻⁸) times the condition number (near 10³) and some growth: measured up to 2.5·10⁻⁵.
        Assert.IsTrue(residual < 2.5e-4, $"{residual}");
    }

    [TestMethod]
    [DataRow(70, 0.01)]
    [DataRow(300, 0.01)]
    [DataRow(300, 0.0)]
    public void WhenTheStorageAboveRsDiagonalIsPoisoned_ItStaysPoisonedAndUIsTheSame(int k, double damp)
    {
        // damp 0 on a duplicated feature takes the retry path (checked below), whose restore must not touch it either.
        using var clean = damp == 0 ? WithDuplicate(Correlated(k - 1, samples: k / 2, seed: k)) : Correlated(k, samples: k / 2, seed: k);
        using var poisoned = Copy(clean);
        var storage = poisoned.Storage;
        for (int a = 0; a < k; a++)
            for (int b = a + 1; b < k; b++) storage[a * k + b] = Poison;
        double used = Cholesky.InverseUpperFactor(clean, damp);
        Assert.AreEqual(used, Cholesky.InverseUpperFactor(poisoned, damp));
        if (damp == 0) Assert.IsTrue(used > 0, "the undamped duplicate must fail and be retried");
        storage = poisoned.Storage;
        int poisonBits = BitConverter.SingleToInt32Bits(Poison);
        for (int a = 0; a < k; a++)
            for (int b = a + 1; b < k; b++)
                Assert.AreEqual(poisonBits, BitConverter.SingleToInt32Bits(storage[a * k + b]), $"storage [{a}, {b}] above R's diagonal");
        // Never read either: U is finite and the very bits of the clean run.
        for (int i = 0; i < k; i++)
            for (int j = i; j < k; j++)
            {
                Assert.IsTrue(float.IsFinite(poisoned[i, j]), $"U[{i}, {j}] = {poisoned[i, j]}");
                Assert.AreEqual(BitConverter.SingleToInt32Bits(clean[i, j]), BitConverter.SingleToInt32Bits(poisoned[i, j]), $"U[{i}, {j}]");
            }
        TestContext.WriteLine($"K = {k}, damp {damp}: used {used}");
    }

    [TestMethod]
    [DataRow(150)]
    [DataRow(300)]
    public void WhenTheUndampedHIsSingular_TheDampingIsRaisedUntilItFactors(int k)
    {
        // Rank-deficient (samples < K) with a duplicated feature: pivots of rounding noise, so damp 0 fails part-way
        // (after the first block, so that factored columns are restored) and is raised until float resolves them.
        using var h = WithDuplicate(Correlated(k - 1, samples: k / 2, seed: 3 * k));
        using var direct = Copy(h);
        double used = Cholesky.InverseUpperFactor(h, 0);
        TestContext.WriteLine($"K = {k}: damp used {used}");
        Assert.IsTrue(used >= 1e-8, $"{used}: the undamped try should fail");
        Assert.AreEqual(used, Cholesky.InverseUpperFactor(direct, used), "the direct call needs no raise");
        // At λ ≈ 10⁻⁶ mean diag the condition number is near 1 / float's ε, so U itself is only good to O(1) there (the
        // direct call is ~10 % off the double factor): only sanity is asserted, the comparison is the next test's.
        for (int i = 0; i < k; i++)
        {
            Assert.IsTrue(h[i, i] > 0, $"U[{i}, {i}] = {h[i, i]}");
            for (int j = i; j < k; j++) Assert.IsTrue(float.IsFinite(h[i, j]), $"U[{i}, {j}] = {h[i, j]}");
        }
    }

    [TestMethod]
    [DataRow(150)]
    [DataRow(300)]
    public void WhenTheUndampedHIsIndefinite_TheRaisedDampingGivesTheFactorOfADirectCall(int k)
    {
        // The singular H above with its first input's variance short by 5·10⁻³ mean diag: the last pivot in R's order is
        // negative, clear of rounding, until the damping passes that, so damp 0 is raised seven times (the small ones
        // may fail earlier, on the singular part) to 10⁻², and every failure is part-way: a real restore each time.
        using var h = WithDuplicate(Correlated(k - 1, samples: k / 2, seed: 3 * k));
        var full = h.ToDouble();
        h[0, 0] = (float)(full[0] - 5e-3 * MeanDiagonal(full, k));
        using var direct = Copy(h);
        double used = Cholesky.InverseUpperFactor(h, 0);
        TestContext.WriteLine($"K = {k}: damp used {used}");
        Assert.AreEqual(1e-2, used, 1e-15);
        Assert.AreEqual(used, Cholesky.InverseUpperFactor(direct, used), "the direct call needs no raise");
        // The retry starts from H restored in float, seven times, each off by rounding: a few float ulps of H times the
        // condition number (near 10³ at λ = 10⁻² mean diag), relative, as for the agreement with doubles.
        double difference = RelativeDifference(h, direct.ToDouble());
        TestContext.WriteLine($"K = {k}: max |U_retry − U_direct| / max |U_direct| = {difference:E2}");
        Assert.IsTrue(difference < 5e-4, $"{difference}");
    }

    [TestMethod]
    public void WhenNoDampingHelps_ItThrowsAndHIsRestored()
    {
        // Definite but for the first feature, whose variance is hugely negative: the factorization fails in R's last
        // block (past the first: a real restore) at every damping up to 0.01 · 10¹².
        const int k = 150;
        using var h = Correlated(k, samples: 2 * k, seed: 11);
        var original = h.ToDouble();
        h[0, 0] = -1e30f;
        original[0] = -1e30f;
        Assert.ThrowsExactly<ArithmeticException>(() => Cholesky.InverseUpperFactor(h, 0.01));
        double worst = 0, scale = 0;
        for (int i = 0; i < k; i++)
            for (int j = i; j < k; j++)
            {
                if (i == 0 && j == 0) continue;
                worst = Math.Max(worst, Math.Abs(h[i, j] - original[i * k + j]));
                scale = Math.Max(scale, Math.Abs(original[i * k + j]));
            }
        Assert.AreEqual(-1e30f, h[0, 0]);
        TestContext.WriteLine($"max |H restored − H| / max |H| = {worst / scale:E2}");
        Assert.IsTrue(worst < 1e-5 * scale, $"{worst / scale}");
    }

    [TestMethod]
    public void WhenRunTwice_TheFactorsAgreeBitForBit()
    {
        // 700: the update, the panel solve and the inverse's products all run in parallel.
        const int k = 700;
        using var first = Correlated(k, samples: k / 2, seed: 17);
        using var second = Copy(first);
        Assert.AreEqual(Cholesky.InverseUpperFactor(first, 0.01), Cholesky.InverseUpperFactor(second, 0.01));
        for (int i = 0; i < k; i++)
            for (int j = i; j < k; j++)
                Assert.AreEqual(BitConverter.SingleToInt32Bits(first[i, j]), BitConverter.SingleToInt32Bits(second[i, j]), $"U[{i}, {j}]");
    }

    private static SymmetricMatrix Correlated(int k, int samples, int seed) =>
        SymmetricMatrix.FromDouble(new CorrelatedLayer(k, 1, samples, seed).H, k);

    // H with one more feature that copies feature k / 2: an exactly singular H. Disposes h.
    private static SymmetricMatrix WithDuplicate(SymmetricMatrix h)
    {
        using (h)
        {
            int k = h.Order;
            var order = new int[k + 1];
            for (int i = 0; i < k; i++) order[i] = i;
            order[k] = k / 2;
            return h.Permuted(order);
        }
    }

    private static SymmetricMatrix Copy(SymmetricMatrix h)
    {
        var order = new int[h.Order];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        return h.Permuted(order);
    }

    private static double MeanDiagonal(double[] h, int k)
    {
        double sum = 0;
        for (int i = 0; i < k; i++) sum += h[i * k + i];
        return sum / k;
    }

    // max over i ≤ j of |U[i, j] − expected[i, j]|, over max |expected[i, j]|.
    private static double RelativeDifference(SymmetricMatrix u, double[] expected)
    {
        int k = u.Order;
        double worst = 0, scale = 0;
        for (int i = 0; i < k; i++)
            for (int j = i; j < k; j++)
            {
                worst = Math.Max(worst, Math.Abs(u[i, j] - expected[i * k + j]));
                scale = Math.Max(scale, Math.Abs(expected[i * k + j]));
            }
        return worst / scale;
    }

    // max |(UᵀU) A − I| over a sample of columns c of A: x = A e_c, then Uᵀ (U x) in double.
    private static double IdentityResidual(SymmetricMatrix u, double[] a)
    {
        int k = u.Order;
        double worst = 0;
        var x = new double[k];
        var ux = new double[k];
        for (int c = 0; c < k; c += Math.Max(1, k / 17))
        {
            for (int i = 0; i < k; i++) x[i] = a[i * k + c];
            for (int i = 0; i < k; i++)
            {
                double v = 0;
                for (int m = i; m < k; m++) v += u[i, m] * x[m];
                ux[i] = v;
            }
            for (int i = 0; i < k; i++)
            {
                double v = 0;
                for (int m = 0; m <= i; m++) v += u[m, i] * ux[m];
                worst = Math.Max(worst, Math.Abs(v - (i == c ? 1 : 0)));
            }
        }
        return worst;
    }
}
