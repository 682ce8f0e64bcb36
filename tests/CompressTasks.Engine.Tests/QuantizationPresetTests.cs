using System.Text.Json;
using CompressTasks.TestSupport;

namespace CompressTasks.Engine.Tests;

[TestClass]
public sealed class QuantizationPresetTests
{
    private string _dir = null!;

    public TestContext TestContext { get; set; } = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-engine-preset-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void WhenInt4PresetRunsOnMnistMlp_ItIsAboutASixthAndTheTop1BudgetHolds()
    {
        // The whole pipeline: optimize turns MatMul+Add into Gemm, quantize-int4 turns each Gemm into MatMulNBits with
        // its bias; verification runs the labelled test images and fails the run past a 1-point top-1 drop.
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = Path.Combine(Path.GetDirectoryName(model)!, "data");
        var recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, $"extends: int4\nevaluation: {Path.Combine(data, "test_images.npy")}\nlabels: {Path.Combine(data, "test_labels.npy")}\nverify:\n  max-top1-drop: 1%\n");
        var result = Compressor.Run(new CompressionRequest(model, recipe, Path.Combine(_dir, "out", "mnist-mlp.onnx"), Path.Combine(_dir, "report")));

        double ratio = (double)result.InputBytes / result.OutputBytes;
        TestContext.WriteLine(result.Summary);
        Assert.IsTrue(ratio > 6.0, $"{result.InputBytes} → {result.OutputBytes} ({ratio:F2}×): 5 bits per weight is 6.4×");
        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var passes = report.RootElement.GetProperty("passes").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("rewritten").GetInt32());
        Assert.AreEqual((3, 3), (passes["fuse-matmul-add"], passes["quantize-int4"]));
    }
}
