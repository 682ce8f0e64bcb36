using System.Text.Json;
using CompressTasks.Model;
using CompressTasks.TestSupport;

namespace CompressTasks.Engine.Tests;

[TestClass]
public sealed class PipelineStepsTests
{
    private string _dir = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-engine-steps-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    [DataRow("runtime: onnxruntime\npasses:\n  - fuse-layernorm\n", true, DisplayName = "runtime: onnxruntime makes com.microsoft the default domain")]
    [DataRow("runtime: onnxruntime\npasses:\n  - fuse-layernorm: { domain: standard }\n", false, DisplayName = "an entry's own domain wins")]
    [DataRow("passes:\n  - fuse-layernorm\n", false, DisplayName = "without runtime: standard ONNX only (opset 13 has no LayerNormalization)")]
    public void RuntimeOnnxRuntime_DefaultsDomainParameters_UnlessTheEntrySetsThem(string recipeText, bool fused)
    {
        // wakeword-hello is opset 13 with decomposed LayerNorms: only ORT's own LayerNormalization can take them.
        var model = TestPaths.SharedModel("wakeword-hello/hello_deepa.onnx");
        var recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, recipeText + "verify:\n  min-cosine: 0.9999\n");
        var output = Path.Combine(_dir, "out", "hello.onnx");
        var result = Compressor.Run(new CompressionRequest(model, recipe, output, Path.Combine(_dir, "report")));

        using var compressed = OnnxModel.Load(output);
        int layerNorms = compressed.Proto.Graph.Node.Count(n => n.OpType == "LayerNormalization");
        Assert.AreEqual(fused, layerNorms > 0, result.Summary);
        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var pass = report.RootElement.GetProperty("passes")[0];
        Assert.AreEqual(layerNorms, pass.GetProperty("rewritten").GetInt32());
        Assert.IsTrue(pass.GetProperty("initializersBefore").GetInt32() > 0, "the report counts tensors per pass");
    }
}
