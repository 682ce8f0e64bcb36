using System.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Versioning;
using CompressTasks.TestSupport;
using Microsoft.ML.OnnxRuntime;

namespace CompressTasks.Passes.Tests.Versioning;

/// <summary>
/// convert-opset on real models (outputs equal within 1e-5, onnx.checker accepts the result) and on the ONNX
/// backend node suite (every case below the target that ONNX Runtime runs correctly still matches its expected
/// outputs after the upgrade, or is refused with a reason).
/// </summary>
[TestClass]
public sealed class ConvertOpsetCorpusTests
{
    private static readonly ConvertOpset Pass = new();

    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> Models() =>
        from model in new[]
        {
            "resnet18", "mnist-mlp/mnist-mlp.onnx", "ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx",
            "ppocr-det/ch_PP-OCRv4_det_infer.onnx", "silero-vad-legacy/silero_vad_legacy.onnx", "wakeword-hello/hello_deepa.onnx",
        }
        from target in new[] { 13, 17, 21 }
        select new object[] { model, target };

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void WhenRealModelIsUpgraded_OutputsAgreeAndCheckerAccepts(string name, int target)
    {
        var path = name == "resnet18" ? TestPaths.ResNet18 : TestPaths.SharedModel(name);
        using var model = OnnxModel.Load(path);
        long source = model.Proto.OpsetImport.First(o => o.Domain is "" or "ai.onnx").Version;
        var result = PassHarness.Run(model, Pass, new PassArguments(Pass.Descriptor, [new("target-opset", target)]));
        TestContext.WriteLine($"{name}: opset {source} → {target}, IR {model.Proto.IrVersion}: {string.Join("; ", result.Notes)}");
        if (source >= target)
        {
            Assert.AreEqual(0, result.Rewritten);
            return;
        }
        Assert.AreEqual(1, result.Rewritten, "every real model's ops are covered");
        Assert.AreEqual(target, model.Proto.OpsetImport.First(o => o.Domain is "" or "ai.onnx").Version);

        var output = Path.Combine(Path.GetTempPath(), $"ct-opset-{Guid.NewGuid():N}.onnx");
        try
        {
            model.Save(output);
            const string check = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1])); print('ok')";
            var (_, newest) = PythonOnnx.Run("import onnx; print(onnx.defs.onnx_opset_version())", path);
            if (int.Parse(newest.Trim(), System.Globalization.CultureInfo.InvariantCulture) < target)
                TestContext.WriteLine($"onnx.checker not run: the installed onnx knows opsets up to {newest.Trim()} only (outputs are still compared)");
            else
            {
                var (originalExit, originalText) = PythonOnnx.Run(check, path);
                var (exit, text) = PythonOnnx.Run(check, output);
                if (originalExit == 0) Assert.AreEqual(0, exit, $"onnx.checker rejected the upgraded {name}: {text}");
                else TestContext.WriteLine($"onnx.checker rejects the original {name} too: {originalText.Trim().Split('\n')[^1]}");
            }
            var (shapes, fixedInputs) = RealModelsTests.InputsFor(name);
            PassHarness.AssertSameOutputs(File.ReadAllBytes(path), File.ReadAllBytes(output), shapes, rtol: 1e-5, atol: 1e-5, fixedInputs: fixedInputs, samples: 1);
        }
        finally
        {
            File.Delete(output);
        }
    }

    [TestMethod]
    [DataRow(13, 50)]
    [DataRow(17, 500)]
    [DataRow(21, 500)]
    public void WhenNodeSuiteModelsAreUpgraded_TheyStillMatchTheirExpectedOutputs(int target, int atLeast)
    {
        var root = Path.Combine(TestPaths.BackendCorpusRoot, "node");
        Assert.IsTrue(Directory.Exists(root), $"the Debian libonnx-testdata corpus is not installed at {root}");
        var clock = Stopwatch.StartNew();
        int equal = 0, alreadyThere = 0, ortCannot = 0;
        var refused = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (var dir in Directory.GetDirectories(root).Order(StringComparer.Ordinal))
        {
            var file = Path.Combine(dir, "model.onnx");
            if (!File.Exists(file)) continue;
            string name = Path.GetFileName(dir);
            using var model = OnnxModel.Load(file);
            long source = model.Proto.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx")?.Version ?? 0;
            if (source == 0 || source >= target || !ModelInputs.AllTensorIO(model.Proto))
            {
                alreadyThere++;
                continue;
            }
            // Only cases ONNX Runtime itself gets right before the upgrade say anything about the upgrade.
            if (RoundTrip(File.ReadAllBytes(file), dir, model, GraphOptimizationLevel.ORT_DISABLE_ALL) is not null)
            {
                ortCannot++;
                continue;
            }
            var result = PassHarness.Run(model, Pass, new PassArguments(Pass.Descriptor, [new("target-opset", target)]));
            if (result.Rewritten == 0)
            {
                var reason = result.Notes.Count > 0 ? result.Notes[0] : "no reason given";
                int colon = reason.IndexOf(": ", StringComparison.Ordinal);
                var key = colon < 0 ? reason : reason[(colon + 2)..];
                refused[key] = refused.GetValueOrDefault(key) + 1;
                continue;
            }
            var upgraded = PassHarness.Bytes(model);
            string? failure = null;
            foreach (var level in OrtRunner.Levels)
                failure ??= RoundTrip(upgraded, dir, model, level) is { } why ? $"{name} ({level}): {why}" : null;
            if (failure is null) equal++;
            else failures.Add(failure);
        }
        TestContext.WriteLine($"node suite → opset {target} in {clock.Elapsed.TotalSeconds:F1} s: {equal} upgraded and equal, "
            + $"{refused.Values.Sum()} refused, {failures.Count} failed; {ortCannot} not run correctly by ONNX Runtime before the upgrade, {alreadyThere} already at {target} or not plain tensors");
        foreach (var (reason, count) in refused) TestContext.WriteLine($"  refused ×{count}: {reason}");
        foreach (var failure in failures) TestContext.WriteLine($"  FAILED {failure}");
        Assert.IsEmpty(failures, string.Join("\n", failures));
        Assert.IsGreaterThanOrEqualTo(atLeast, equal, $"the suite has more cases below opset {target}");
    }

    // Runs the model on each data set of the case; null when every output matches the expected .pb files.
    private static string? RoundTrip(byte[] modelBytes, string caseDirectory, OnnxModel model, GraphOptimizationLevel level)
    {
        try
        {
            foreach (var dataSet in ModelInputs.DataSets(caseDirectory))
            {
                var expected = ModelInputs.ReadOutputs(dataSet);
                var actual = OrtRunner.Run(modelBytes, ModelInputs.ReadInputs(dataSet, model.Proto), level);
                if (TensorComparer.Difference(expected, actual.Take(expected.Count).ToArray()) is { } difference) return difference;
            }
            return null;
        }
        catch (OnnxRuntimeException e)
        {
            return e.Message.Split('\n')[0];
        }
    }
}
