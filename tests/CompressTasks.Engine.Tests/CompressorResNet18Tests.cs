using System.Text.Json;
using CompressTasks.TestSupport;

namespace CompressTasks.Engine.Tests;

/// <summary>
/// Recipes a user would write for the sample model, through the whole pipeline: ResNet-18 is opset 8, so int8
/// needs convert-opset in front of the quantization; fp16 needs nothing.
/// </summary>
[TestClass]
public sealed class CompressorResNet18Tests
{
    private string _dir = null!;

    public TestContext TestContext { get; set; } = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-engine-r18-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private (CompressionResult Result, double Cosine) Compress(string yaml)
    {
        var recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, yaml);
        var result = Compressor.Run(new CompressionRequest(TestPaths.ResNet18, recipe, Path.Combine(_dir, "out", "resnet18.onnx"), Path.Combine(_dir, "report")));
        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        double cosine = report.RootElement.GetProperty("verification").GetProperty("outputs").EnumerateArray().Min(o => o.GetProperty("cosine").GetDouble());
        TestContext.WriteLine($"{result.InputBytes:N0} → {result.OutputBytes:N0} bytes ({(double)result.InputBytes / result.OutputBytes:F2}× smaller), cosine {cosine:F6}: {result.Summary}");
        return (result, cosine);
    }

    [TestMethod]
    public void WhenInt8ExtendsWithConvertOpset13InFront_ResNet18Quantizes()
    {
        var (result, cosine) = Compress("""
            extends: int8
            passes:
              - quantize-weights-int8: off       # extends appends: take the base's entry out...
              - convert-opset: { target-opset: 13 }
              - quantize-weights-int8            # ...and list it again after the upgrade
            verify:
              min-cosine: 0.99
            """);
        CollectionAssert.AreEqual(new[] { "convert-opset", "quantize-weights-int8" }, result.PassesRun.TakeLast(2).ToArray());
        Assert.IsGreaterThanOrEqualTo(3.8, (double)result.InputBytes / result.OutputBytes);
        Assert.IsGreaterThanOrEqualTo(0.99, cosine);
    }

    [TestMethod]
    public void WhenFp16PresetRuns_ResNet18HalvesAndStaysClose()
    {
        var (result, cosine) = Compress("extends: fp16\nverify:\n  min-cosine: 0.999\n");
        Assert.IsGreaterThanOrEqualTo(1.9, (double)result.InputBytes / result.OutputBytes);
        Assert.IsGreaterThanOrEqualTo(0.999, cosine);
    }
}
