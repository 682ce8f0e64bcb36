using CompressTasks.Diagnostics;
using CompressTasks.Model;
using CompressTasks.TestSupport;

namespace CompressTasks.Engine.Tests;

/// <summary>Per-layer overrides end to end on mnist-mlp (fc1/MatMul, fc2/MatMul, fc3/MatMul reading fc1.weight …).</summary>
[TestClass]
public sealed class LayerNamesTests
{
    private string _dir = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-layers-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private CompressionResult Run(string yaml)
    {
        var recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, yaml);
        return Compressor.Run(new CompressionRequest(TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx"), recipe, Path.Combine(_dir, "out.onnx"), _dir));
    }

    [TestMethod]
    public void WhenLayersOverrideAPass_ExactlyTheNamedLayersChange()
    {
        var result = Run("""
            passes:
              - quantize-weights-int8:
                  layers:
                    "fc1/*": skip
                    fc3.weight: { per-channel: false }
            verify:
              min-cosine: 0.999
            """);

        using var model = OnnxModel.Load(result.OutputPath);
        var graph = model.Proto.Graph;
        Assert.AreEqual(1, graph.Initializer.Single(t => t.Name == "fc1.weight").DataType, "fc1 is skipped by its node name");
        var dq = graph.Node.Where(n => n.OpType == "DequantizeLinear").ToDictionary(n => n.Output[0]);
        CollectionAssert.AreEquivalent(new[] { "fc2.weight", "fc3.weight" }, dq.Keys.ToArray());
        Assert.AreEqual(1, dq["fc2.weight"].Attribute.Single(a => a.Name == "axis").I, "the entry's own per-channel default");
        Assert.IsFalse(dq["fc3.weight"].Attribute.Any(a => a.Name == "axis"), "the override's per-tensor scale");
        Console.WriteLine(result.Summary);
    }

    [TestMethod]
    public void WhenALayerPatternMatchesNothing_CT1014AtThePattern()
    {
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Run("passes:\n  - quantize-weights-int8:\n      layers:\n        fc1/*: skip\n        \"fc9*\": skip\n"));
        Assert.AreEqual(DiagnosticCodes.RecipeLayerMatchesNothing, e.Code);
        Assert.AreEqual((5, 9), (e.Line, e.Column));
        StringAssert.Contains(e.Message, "'fc9*' matches no node or weight name of mnist-mlp.onnx");
        Assert.IsFalse(File.Exists(Path.Combine(_dir, "out.onnx")));
    }
}
