using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.TestSupport;

namespace CompressTasks.Passes.Tests.Quantization;

/// <summary>
/// quantize-int4 and quantize-dynamic (after the optimize passes, as the presets run them) on every real model:
/// the result loads and runs in ONNX Runtime at both optimization levels, onnx.checker accepts it whenever it
/// accepts the original, and the size ratio and worst output cosine are printed.
/// </summary>
[TestClass]
public sealed class QuantizationRealModelsTests
{
    private static readonly string[] Optimize = ["lift-constants", "fold-constants", "eliminate-identity", "eliminate-dead", "fuse-conv-bn", "fuse-matmul-add", "dedupe-initializers"];

    // Cosine bounds on generated inputs. int4: each weight off by up to max|w|/14 of its block, about 7% rms relative,
    // so a layer's output cosine ≈ 1 − 0.07²/2 ≈ 0.9975; a handful of quantized layers in series compound to about
    // 0.99, and 0.98 leaves room for the weights of real layers being less uniform than that. dynamic int8: about
    // 0.6% rms per layer (activations and weights), cosine ≈ 0.99998 per layer; 0.999 as in its unit tests.
    private const double MinCosineInt4 = 0.98, MinCosineDynamic = 0.999;

    public TestContext TestContext { get; set; } = null!;

    // MiniLM has its own class with transformer bounds (MiniLMQuantizationTests): per-tensor uint8 activations of its
    // feed-forward MatMuls lose more than the CNN bounds above allow (outlier features at [CLS]).
    public static IEnumerable<object[]> Cases() =>
        from model in RealModelsTests.Models().Select(m => (string)m[0]).Where(m => m != "minilm")
        from pass in new[] { "quantize-int4", "quantize-dynamic" }
        select new object[] { model, pass };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void WhenQuantized_ResultRunsInOrtAndCheckerAccepts(string name, string pass)
    {
        var path = RealModelsTests.PathOf(name);
        using var model = OnnxModel.Load(path);
        var original = File.ReadAllBytes(path);
        PassManager.Run(model, [.. Optimize.Select(n => new PassStep(PassRegistry.Get(n), new PassArguments(PassRegistry.Get(n).Descriptor)))], rounds: 4);
        // Compared with the optimized model, so the cosine measures the quantization alone.
        var before = PassHarness.Bytes(model);
        var step = PassRegistry.Get(pass);
        var result = PassManager.Run(model, [new PassStep(step, new PassArguments(step.Descriptor))], validateEachPass: true)[0].Result;
        var after = PassHarness.Bytes(model);

        var (shapes, fixedInputs) = RealModelsTests.InputsFor(name);
        double cosine = QuantizationAssert.Cosine(before, after, pass == "quantize-int4" ? MinCosineInt4 : MinCosineDynamic, fixedInputs, shapes, out double largestDifference);
        TestContext.WriteLine($"{name} {pass}: {result.Rewritten} weights rewritten, {result.Skipped} skipped; {original.Length:N0} → {after.Length:N0} bytes "
            + $"({(double)original.Length / after.Length:F2}×; optimize alone {(double)original.Length / before.Length:F2}×); worst output cosine {cosine:F5}, largest |difference| {largestDifference:G3}");
        foreach (var note in result.Notes.Take(3)) TestContext.WriteLine($"  {note}");

        var output = Path.Combine(Path.GetTempPath(), $"ct-quant-real-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(output, after);
            const string check = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1])); print('ok')";
            var (originalExit, originalText) = PythonOnnx.Run(check, path);
            var (exit, text) = PythonOnnx.Run(check, output);
            // ResNet-18's CNTK export is rejected as it comes (IR 3 without initializers declared as inputs).
            if (originalExit == 0) Assert.AreEqual(0, exit, $"onnx.checker rejected the quantized {name}: {text}");
            else TestContext.WriteLine($"onnx.checker rejects the original {name} too: {originalText.Trim().Split('\n')[^1]}");
        }
        finally
        {
            File.Delete(output);
        }
    }
}
