namespace CompressTasks.Verification.Tests.Metrics;

[TestClass]
public sealed class OutputMetricsTests
{
    [TestMethod]
    public void WhenOutputsDiffer_MetricsMatchHandComputedValues()
    {
        // t = (3, 4), s = (3, 5): d = (0, 1); ‖t‖ = 5, ‖s‖ = √34, ⟨t,s⟩ = 29.
        var m = OutputMetrics.Compute("y", [3f, 4f], [3f, 5f]);
        Assert.AreEqual(1.0, m.MaxAbsError, 1e-12);
        Assert.AreEqual(0.5, m.MeanAbsError, 1e-12);
        Assert.AreEqual(0.2, m.RelativeError, 1e-12);
        Assert.AreEqual(29 / (5 * Math.Sqrt(34)), m.Cosine, 1e-12);
        Assert.AreEqual(10 * Math.Log10(25.0), m.SnrDb, 1e-9);
        Assert.IsNull(m.Top1Agreement);
    }

    [TestMethod]
    public void WhenOutputsAreIdentical_CosineIsOneAndSnrInfinite()
    {
        var m = OutputMetrics.Compute("y", [1f, -2f, 0.5f], [1f, -2f, 0.5f]);
        Assert.AreEqual(0.0, m.MaxAbsError);
        Assert.AreEqual(1.0, m.Cosine, 1e-12);
        Assert.IsTrue(double.IsPositiveInfinity(m.SnrDb));
    }

    [TestMethod]
    public void WhenScoresAreClassRows_TopKAgreementCountsRows()
    {
        // Two rows of 6 classes. Row 0: same arg-max (2). Row 1: teacher's best (0) is the student's 2nd best.
        float[] teacher = [0, 1, 9, 2, 3, 4, /**/ 9, 1, 2, 3, 4, 5];
        float[] student = [0, 1, 8, 2, 3, 4, /**/ 8, 1, 2, 3, 4, 9];
        var m = OutputMetrics.Compute("scores", teacher, student, classes: 6);
        Assert.AreEqual(0.5, m.Top1Agreement);
        Assert.AreEqual(1.0, m.Top5Agreement);
    }

    [TestMethod]
    public void WhenLengthsDiffer_ItThrows() =>
        Assert.ThrowsExactly<ArgumentException>(() => OutputMetrics.Compute("y", [1f], [1f, 2f]));
}
