using System.Numerics.Tensors;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Quantization;

/// <summary>
/// <c>quantize-static</c> on real models: mnist-mlp with its calibration and labelled evaluation data, ResNet-18
/// upgraded to opset 13 by onnx's version converter (the opset-8 original is skipped with a reason), and ppocr-cls
/// (opset 9, skipped). Results load in ONNX Runtime and pass onnx.checker; size, accuracy and agreement are printed.
/// </summary>
[TestClass]
public sealed class QuantizeStaticRealModelTests
{
    public TestContext TestContext { get; set; } = null!;

    private static PassStep Step(string name, params (string Name, object Value)[] values)
    {
        var pass = PassRegistry.Get(name);
        return new PassStep(pass, new PassArguments(pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value))));
    }

    // The calibration data as the engine hands them to passes.
    private static PassContext Calibrated(string path) => new(null, DataSource.FromPath(path));

    [TestMethod]
    [DataRow("minmax")]
    [DataRow("entropy")]
    public void WhenMnistMlpIsQuantizedStatically_Top1DropsAtMostOnePoint(string method)
    {
        var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = Path.Combine(Path.GetDirectoryName(path)!, "data");
        using var model = OnnxModel.Load(path);
        var before = File.ReadAllBytes(path);
        // What the int8-static preset does: MatMul + Add → Gemm first, so biases become int32 inputs of QGemm.
        var runs = PassManager.Run(model, [Step("fuse-matmul-add"), Step("quantize-static", ("method", method))],
            validateEachPass: true, context: Calibrated(Path.Combine(data, "calib_images.npy")));
        var result = runs[1].Result;
        TestContext.WriteLine(string.Join("\n", result.Notes));
        Assert.AreEqual(3, result.Rewritten, "the three Gemms (Relu outputs feed the next Gemm's Q directly)");
        var after = PassHarness.Bytes(model);

        var labels = FeedLoader.LoadLabels(Path.Combine(data, "test_labels.npy"));
        double original = Top1(before, Path.Combine(data, "test_images.npy"), labels, out int rows);
        double quantized = Top1(after, Path.Combine(data, "test_images.npy"), labels, out _);
        var fused = QuantizeStaticTests.OptimizedOpTypes(after);
        TestContext.WriteLine($"mnist-mlp {method}: {before.Length:N0} → {after.Length:N0} bytes ({(double)before.Length / after.Length:F2}×); "
            + $"top-1 on {rows} held-out images: {original:P1} → {quantized:P1}; ONNX Runtime at All runs {string.Join(", ", fused)}");
        Assert.AreEqual(1000, rows);
        Assert.IsTrue(original - quantized <= 0.01, $"top-1 {original:P2} → {quantized:P2}");
        Assert.IsTrue(fused.Contains("QGemm") && !fused.Contains("Gemm"), "every Gemm runs as QGemm");
        AssertChecker(after, "mnist-mlp");
    }

    [TestMethod]
    public void WhenResNet18IsAtOpset8_ThePassSaysToUpgradeFirst()
    {
        using var model = OnnxModel.Load(TestPaths.ResNet18);
        var runs = PassManager.Run(model, [Step("quantize-static")], context: Calibrated("unused.npy"));
        StringAssert.Contains(runs[0].Result.Notes.Single(), "opset 8 has no QuantizeLinear/DequantizeLinear");
        StringAssert.Contains(runs[0].Result.Notes.Single(), "convert-opset");
        Assert.AreEqual(0, runs[0].Result.Rewritten);
    }

    [TestMethod]
    public void WhenPpocrClsIsAtOpset9_ThePassSkipsWithAReason()
    {
        using var model = OnnxModel.Load(TestPaths.SharedModel("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx"));
        var runs = PassManager.Run(model, [Step("quantize-static")], context: Calibrated("unused.npy"));
        StringAssert.Contains(runs[0].Result.Notes.Single(), "opset 9 has no QuantizeLinear/DequantizeLinear");
        Assert.AreEqual(0, runs[0].Result.Rewritten);
    }

    [TestMethod]
    public void WhenResNet18IsUpgradedToOpset13_ItQuantizesToIntegerKernelsAndAgrees()
    {
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"ct-static-rn18-{Guid.NewGuid():N}")).FullName;
        try
        {
            var upgraded = Path.Combine(dir, "resnet18-13.onnx");
            UpgradeToOpset13(TestPaths.ResNet18, upgraded);
            // 8 random images in [0, 1) for calibration (batch 1: the input's first dimension is fixed), others for checking.
            var calibration = Path.Combine(dir, "calib.npy");
            NpyFile.Write(calibration, Images(8, 3 * 224 * 224, 100), 8, 3, 224, 224);
            using var model = OnnxModel.Load(upgraded);
            var before = PassHarness.Bytes(model);
            var runs = PassManager.Run(model, [Step("fuse-conv-bn"), Step("quantize-static", ("method", "percentile"))],
                validateEachPass: true, context: Calibrated(calibration));
            TestContext.WriteLine(string.Join("\n", runs[1].Result.Notes.Take(5)));
            Assert.IsTrue(runs[1].Result.Rewritten >= 21, $"{runs[1].Result.Rewritten} nodes quantized");
            var after = PassHarness.Bytes(model);
            var fused = QuantizeStaticTests.OptimizedOpTypes(after);

            double worst = 1;
            var options = new RuntimeOptions { Optimization = OptimizationLevel.All };
            using (var original = ModelSession.Open(before, "original", options))
            using (var quantized = ModelSession.Open(after, "quantized", options))
            {
                for (int seed = 0; seed < 2; seed++)
                {
                    var feed = new Dictionary<string, TensorValue> { [original.Inputs[0].Name] = TensorValue.FromFloats(Images(1, 3 * 224 * 224, seed), 1, 3, 224, 224) };
                    worst = Math.Min(worst, TensorPrimitives.CosineSimilarity(original.Run(feed)[0].ToFloats(), quantized.Run(feed)[0].ToFloats()));
                }
            }
            TestContext.WriteLine($"ResNet-18 (opset 13): {before.Length:N0} → {after.Length:N0} bytes ({(double)before.Length / after.Length:F2}×), "
                + $"worst cosine {worst:F5} on 2 random images; ONNX Runtime at All runs {string.Join(", ", fused)}");
            Assert.IsTrue((double)before.Length / after.Length > 3.5);
            Assert.IsTrue(fused.Contains("QLinearConv") && !fused.Contains("Conv"), "every Conv runs as QLinearConv");
            // Percentile clipping on random pixels: 0.98 keeps headroom over the measured figure printed above.
            Assert.IsTrue(worst >= 0.98, $"cosine {worst}");
            AssertChecker(after, "ResNet-18");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    [DataRow("wakeword-hello/hello_deepa.onnx", new long[] { 25, 96 }, 16, true)]
    [DataRow("ppocr-det/ch_PP-OCRv4_det_infer.onnx", new long[] { 3, 96, 96 }, 50, false)]
    public void WhenOtherSharedModelsAreQuantized_TheyRunInOrtAndPassTheChecker(string name, long[] rowShape, int rows, bool perChannel)
    {
        // No real inputs in MANIFEST.md for these: uniform random rows calibrate and check them. ppocr-det is opset 11,
        // so per tensor; its outputs are printed, not asserted (random pixels give a near-zero probability map).
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"ct-static-real-{Guid.NewGuid():N}")).FullName;
        try
        {
            long rowLength = rowShape.Aggregate(1L, (a, d) => a * d);
            var calibration = Path.Combine(dir, "calib.npy");
            NpyFile.Write(calibration, Images(rows, (int)rowLength, 100), [rows, .. rowShape]);
            using var model = OnnxModel.Load(TestPaths.SharedModel(name));
            var before = PassHarness.Bytes(model);
            var runs = PassManager.Run(model, [.. OptimizePreset.Steps(), Step("quantize-static", ("per-channel", perChannel))],
                rounds: 1, validateEachPass: true, context: Calibrated(calibration));
            var result = runs[^1].Result;
            Assert.IsTrue(result.Rewritten > 0, string.Join("\n", result.Notes));
            var after = PassHarness.Bytes(model);
            var feed = new Dictionary<string, TensorValue>();
            double cosine;
            using (var original = ModelSession.Open(before, "original", new RuntimeOptions { Optimization = OptimizationLevel.All }))
            using (var quantized = ModelSession.Open(after, "quantized", new RuntimeOptions { Optimization = OptimizationLevel.All }))
            {
                feed[original.Inputs[0].Name] = TensorValue.FromFloats(Images(1, (int)rowLength, 3), [1, .. rowShape]);
                cosine = TensorPrimitives.CosineSimilarity(original.Run(feed)[0].ToFloats(), quantized.Run(feed)[0].ToFloats());
            }
            TestContext.WriteLine($"{name}: {result.Rewritten} nodes quantized, {before.Length:N0} → {after.Length:N0} bytes "
                + $"({(double)before.Length / after.Length:F2}×), output cosine {cosine:F5} on a random input; "
                + $"ONNX Runtime at All runs {string.Join(", ", QuantizeStaticTests.OptimizedOpTypes(after).Order())}");
            Assert.IsTrue((double)before.Length / after.Length > 3, "weights are int8");
            AssertChecker(after, name);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void WhenSileroKeepsItsWeightsInSubgraphs_NothingIsQuantizedAndThePassSaysWhy()
    {
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"ct-static-silero-{Guid.NewGuid():N}")).FullName;
        try
        {
            var calibration = Path.Combine(dir, "calib.npy");
            NpyFile.Write(calibration, Images(4, 512, 1), 4, 512);
            using var model = OnnxModel.Load(TestPaths.SharedModel("silero-vad-legacy/silero_vad_legacy.onnx"));
            var runs = PassManager.Run(model, [Step("quantize-static")], context: Calibrated(calibration));
            var notes = string.Join("\n", runs[0].Result.Notes);
            TestContext.WriteLine(notes);
            // Its LSTM and Conv weights live inside the If branches; calibration sees the main graph only.
            Assert.AreEqual(0, runs[0].Result.Rewritten);
            StringAssert.Contains(notes, "nodes inside subgraphs are left float");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // onnx's version converter needs every initializer declared as a graph input in this IR 3 export.
    private static void UpgradeToOpset13(string source, string destination)
    {
        const string script = """
            import onnx, sys
            from onnx import helper, version_converter
            m = onnx.load(sys.argv[1])
            declared = {i.name for i in m.graph.input}
            for t in m.graph.initializer:
                if t.name not in declared:
                    m.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
            onnx.save(version_converter.convert_version(m, 13), sys.argv[2])
            """;
        var (exit, text) = PythonOnnx.Run(script, source, destination);
        Assert.AreEqual(0, exit, $"onnx.version_converter failed: {text}");
    }

    private static float[] Images(int rows, int rowLength, int seed)
    {
        var random = new Random(seed);
        var values = new float[rows * rowLength];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextSingle();
        return values;
    }

    private static void AssertChecker(byte[] model, string name)
    {
        var (exit, text) = PythonOnnx.CheckModel(model);
        Assert.AreEqual(0, exit, $"onnx.checker rejected the quantized {name}: {text}");
    }

    // TeacherHarness.Top1 fails unless every label was scored, so the row count is the label count.
    private static double Top1(byte[] model, string images, long[] labels, out int rows)
    {
        rows = labels.Length;
        return TeacherHarness.Top1(model, images, labels);
    }
}
