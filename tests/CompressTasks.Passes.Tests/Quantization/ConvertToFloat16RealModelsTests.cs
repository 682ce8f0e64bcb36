using System.Numerics.Tensors;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Quantization;

/// <summary>
/// convert-fp16 with its defaults on every real model: ONNX Runtime's CPU provider loads and runs the result at
/// both optimization levels, every output keeps cosine ≥ 0.999 against the float32 original on the same inputs,
/// onnx.checker accepts it (where it accepts the original), and the size ratio is printed.
/// </summary>
[TestClass]
public sealed class ConvertToFloat16RealModelsTests
{
    private const double MinCosine = 0.999;
    private const int Samples = 4;

    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> Models() =>
    [
        ["resnet18"],
        ["mnist-mlp/mnist-mlp.onnx"],
        ["ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx"],
        ["ppocr-det/ch_PP-OCRv4_det_infer.onnx"],
        ["silero-vad-legacy/silero_vad_legacy.onnx"],
        ["wakeword-hello/hello_deepa.onnx"],
    ];

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void WhenRealModelIsConverted_OrtRunsItAndOutputsStayClose(string name)
    {
        var path = name == "resnet18" ? TestPaths.ResNet18 : TestPaths.SharedModel(name);
        var pass = new ConvertToFloat16();
        using var model = OnnxModel.Load(path);
        var result = PassHarness.Run(model, pass, new PassArguments(pass.Descriptor));
        Assert.AreEqual(1, result.Rewritten, string.Join("; ", result.Notes));
        var output = Path.Combine(Path.GetTempPath(), $"ct-fp16-{Guid.NewGuid():N}.onnx");
        try
        {
            model.Save(output);
            long before = new FileInfo(path).Length, after = new FileInfo(output).Length;
            TestContext.WriteLine($"{name}: {before:N0} → {after:N0} bytes ({(double)before / after:F2}× smaller); {string.Join("; ", result.Notes.Take(4))}");
            const string check = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1])); print('ok')";
            var (originalExit, originalText) = PythonOnnx.Run(check, path);
            var (exit, text) = PythonOnnx.Run(check, output);
            if (originalExit == 0) Assert.AreEqual(0, exit, $"onnx.checker rejected the float16 {name}: {text}");
            else TestContext.WriteLine($"onnx.checker rejects the original {name} too: {originalText.Trim().Split('\n')[^1]}");
            Assert.IsGreaterThan(1.8, (double)before / after, "float16 halves the weights");

            var (shapes, fixedInputs) = RealModelsTests.InputsFor(name);
            foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
            {
                var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
                using var original = ModelSession.Open(path, options);
                using var converted = ModelSession.Open(output, options);
                CollectionAssert.AreEqual(original.Inputs.Select(i => (i.Name, i.ElementType)).ToArray(), converted.Inputs.Select(i => (i.Name, i.ElementType)).ToArray());
                CollectionAssert.AreEqual(original.Outputs.Select(o => (o.Name, o.ElementType)).ToArray(), converted.Outputs.Select(o => (o.Name, o.ElementType)).ToArray());
                // Several samples, each output concatenated over them: a cosine over a [1, 1] output needs more than one value.
                var expected = new List<float>[original.Outputs.Count];
                var actual = new List<float>[original.Outputs.Count];
                for (int o = 0; o < expected.Length; o++) (expected[o], actual[o]) = (new(), new());
                for (int seed = 0; seed < Samples; seed++)
                {
                    var feeds = InputGenerator.Generate(original.Inputs, shapes, seed);
                    foreach (var (input, value) in fixedInputs ?? new Dictionary<string, TensorValue>()) feeds[input] = value;
                    var e = original.Run(feeds);
                    var a = converted.Run(feeds);
                    for (int o = 0; o < e.Count; o++)
                    {
                        expected[o].AddRange(e[o].ToFloats());
                        actual[o].AddRange(a[o].ToFloats());
                    }
                }
                for (int o = 0; o < expected.Length; o++)
                {
                    var e = expected[o].ToArray();
                    var a = actual[o].ToArray();
                    double cosine = TensorPrimitives.CosineSimilarity(e, a);
                    var difference = new float[e.Length];
                    TensorPrimitives.Subtract(e, a, difference);
                    TestContext.WriteLine($"  {level} {original.Outputs[o].Name}: cosine {cosine:F6}, max |Δ| {Math.Abs(TensorPrimitives.MaxMagnitude(difference)):G3} over {Samples} samples");
                    Assert.IsGreaterThanOrEqualTo(MinCosine, cosine, $"{name} output {original.Outputs[o].Name} at {level}");
                }
            }
        }
        finally
        {
            File.Delete(output);
        }
    }
}
