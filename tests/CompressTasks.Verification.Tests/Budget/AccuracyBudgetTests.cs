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
        var (v, n) = new AccuracyBudget(MinCosine: min, null, null).Check(Result(cosine, 0));
        Assert.AreEqual(violations, v.Count, string.Join("; ", v));
        Assert.AreEqual(nearMisses, n.Count, string.Join("; ", n));
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
