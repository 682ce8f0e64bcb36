namespace CompressTasks.Verification.Tests;

[TestClass]
public sealed class CompressionReportTests
{
    private static CompressionReport WithLatency(double originalMs, double compressedMs)
    {
        var stats = new ModelStatistics(2_000, 2, 1, 500, new Dictionary<string, long>(), new Dictionary<string, int>());
        var verification = new VerificationSummary(true, "generated inputs", 1, "All", [], [], [],
            new LatencyStats(originalMs, originalMs, 20), new LatencyStats(compressedMs, compressedMs, 20));
        return new CompressionReport("CompressTasks", "1.0", "/m/model.onnx", "/o/model.onnx", null, stats, stats, [], verification);
    }

    [TestMethod]
    [DataRow(2.0, 1.0, "2.00× faster")]
    [DataRow(1.0, 2.0, "2.00× SLOWER")]
    [DataRow(1.0, 1.0, "1.00× faster")]
    public void WhenLatencyIsMeasured_SummarySaysFasterOrSlower(double originalMs, double compressedMs, string expected)
    {
        StringAssert.EndsWith(WithLatency(originalMs, compressedMs).SummaryLine(), expected);
    }
}
