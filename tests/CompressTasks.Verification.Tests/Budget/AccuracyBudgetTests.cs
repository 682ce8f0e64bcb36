namespace CompressTasks.Verification.Tests.Budget;

[TestClass]
public sealed class AccuracyBudgetTests
{
    private static ComparisonResult Result(double cosine, double maxAbs, double? top1 = null) =>
        new([new OutputMetrics("y", maxAbs, maxAbs / 2, 0.01, cosine, 40, top1, top1)], 4);

    [TestMethod]
    [DataRow(0.9990, 0.99, 0, 0)]
    [DataRow(0.9850, 0.99, 1, 0)]
    [DataRow(0.99905, 0.999, 0, 1)]
    [DataRow(0.99999, 0.999, 0, 0)]
    public void WhenCosineIsCompared_ViolationsAndNearMissesFollowTheDistanceFromOne(double cosine, double min, int violations, int nearMisses)
    {
        // An error well above float noise (0.1): a cosine below 1 with no error at all cannot happen.
        var (v, n) = new AccuracyBudget(MinCosine: min, null, null).Check(Result(cosine, 0.1));
        Assert.AreEqual(violations, v.Count, string.Join("; ", v));
        Assert.AreEqual(nearMisses, n.Count, string.Join("; ", n));
    }

    [TestMethod]
    [DataRow(30.0, 40.0, 1, 0)]
    [DataRow(40.5, 40.0, 0, 1)]
    [DataRow(45.0, 40.0, 0, 0)]
    public void WhenSnrIsCompared_BelowMinSnrIsAViolationAndWithinOneDbANearMiss(double snr, double min, int violations, int nearMisses)
    {
        var result = new ComparisonResult([new OutputMetrics("y", 0.5, 0.1, 0.01, 0.99, snr, null, null) { TeacherPeak = 100 }], 4);
        var (v, n) = new AccuracyBudget(null, null, null, MinSnrDb: min).Check(result);
        Assert.AreEqual(violations, v.Count, string.Join("; ", v));
        Assert.AreEqual(nearMisses, n.Count, string.Join("; ", n));
    }

    // Outputs near zero: teacher values ~1e-6, the student off by rounding noise. Cosine reads the noise; the budget
    // does not hold it against the output but says why (the note), and a real error of the same relative size on an
    // output of unit scale still breaks it.
    [TestMethod]
    public void WhenAnOutputIsAtFloatNoise_ItsCosineAndSnrAreNotViolations_ButANoteSaysWhy()
    {
        var random = new Random(1);
        var teacher = Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 1e-6)).ToArray();
        var student = teacher.Select(t => t + (float)((random.NextDouble() - 0.5) * 1e-6)).ToArray();
        var tiny = OutputMetrics.Compute("map", teacher, student);
        var scaled = OutputMetrics.Compute("map", teacher.Select(t => t * 1e6f).ToArray(), student.Select(s => s * 1e6f).ToArray());
        Assert.IsLessThan(0.99, tiny.Cosine, "the noise is large next to outputs this small");
        Assert.AreEqual(tiny.Cosine, scaled.Cosine, 1e-6, "and cosine cannot tell the two apart");

        var budget = new AccuracyBudget(MinCosine: 0.999, null, null, MinSnrDb: 40);
        var (violations, _) = budget.Check(new ComparisonResult([tiny], 4));
        Assert.IsEmpty(violations, string.Join("; ", violations));
        var note = budget.FloatNoiseNotes(new ComparisonResult([tiny], 4)).Single();
        StringAssert.Contains(note, "float32 rounding noise");
        Assert.HasCount(2, budget.Check(new ComparisonResult([scaled], 4)).Violations, "cosine and SNR both break at unit scale");
        Assert.IsEmpty(budget.FloatNoiseNotes(new ComparisonResult([scaled], 4)));
        Assert.HasCount(1, (budget with { MaxAbsError = 1e-7 }).Check(new ComparisonResult([tiny], 4)).Violations, "max-abs-error still bounds a noise output");
    }

    [TestMethod]
    public void WhenLabelsWereGiven_TopOneDropIsTheAccuracyDrop()
    {
        var result = Result(0.99, 0.1, top1: 0.90) with { TeacherAccuracy = 0.971, StudentAccuracy = 0.955 };
        var (v, _) = new AccuracyBudget(null, null, MaxTop1Drop: 0.01).Check(result);
        Assert.AreEqual(1, v.Count);
        StringAssert.Contains(v[0], "1.60%");
        StringAssert.Contains(v[0], "accuracy drop");
    }

    [TestMethod]
    public void WhenNoLabels_TopOneDropIsDisagreementWithTheOriginal()
    {
        var (v, _) = new AccuracyBudget(null, null, MaxTop1Drop: 0.05).Check(Result(0.99, 0.1, top1: 0.97));
        Assert.AreEqual(0, v.Count);
        (v, _) = new AccuracyBudget(null, null, MaxTop1Drop: 0.02).Check(Result(0.99, 0.1, top1: 0.97));
        StringAssert.Contains(v[0], "disagreement");
    }

    [TestMethod]
    public void WhenMaxAbsErrorIsNaN_ItIsAViolation()
    {
        var (v, _) = new AccuracyBudget(null, MaxAbsError: 1, null).Check(Result(0.5, double.NaN));
        Assert.AreEqual(1, v.Count);
    }
}
