using System.Text;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using Microsoft.ML.OnnxRuntime;

namespace CompressTasks.Model.Tests;

/// <summary>
/// Load → Save over every model we can find: the ONNX backend suite (Debian's libonnx-testdata), the shared real models
/// and ResNet-18. The saved file must be byte-identical to the source, and ONNX Runtime must run it and reproduce the
/// suite's expected outputs, at ORT_DISABLE_ALL and at ORT_ENABLE_ALL.
/// </summary>
[TestClass]
public sealed class RoundTripTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow("node")]
    [DataRow("pytorch-converted")]
    [DataRow("pytorch-operator")]
    [DataRow("simple")]
    public void WhenBackendSuiteModelIsLoadedAndSaved_ThenBytesAreIdenticalAndOrtReproducesTheSuite(string category)
    {
        var cases = TestPaths.BackendCases(category);
        Assert.IsNotEmpty(cases, $"no models under {TestPaths.BackendCorpusRoot}/{category}");
        int identical = 0, matched = 0, nonTensorIO = 0;
        var failures = new List<string>();
        var ortCannotRun = new List<string>();
        var ortDisagrees = new List<string>();
        using var temp = new TempDirectory();
        foreach (var dir in cases)
        {
            var name = Path.GetFileName(dir);
            var source = Path.Combine(dir, "model.onnx");
            var saved = temp.File(name + ".onnx");
            var sourceBytes = File.ReadAllBytes(source);
            ModelProto proto;
            try
            {
                using var model = OnnxModel.Load(source);
                model.Save(saved);
                proto = model.Proto;
            }
            catch (Exception e)
            {
                failures.Add($"{name}: load/save threw {e.GetType().Name}: {e.Message}");
                continue;
            }
            if (File.ReadAllBytes(saved).AsSpan().SequenceEqual(sourceBytes)) identical++;
            else failures.Add($"{name}: saved bytes differ from the source");

            if (!ModelInputs.AllTensorIO(proto))
            {
                nonTensorIO++;
                continue;
            }
            var verdict = CompareWithSuite(saved, dir, proto);
            if (verdict is null)
            {
                matched++;
                continue;
            }
            // Not ours if ONNX Runtime does the same with the untouched original.
            var original = CompareWithSuite(source, dir, proto);
            if (original is null || original.Value.Kind != verdict.Value.Kind)
                failures.Add($"{name}: re-saved model {verdict.Value.Kind}: {verdict.Value.Reason}; the original {(original is null ? "matches" : original.Value.Kind)}");
            else if (verdict.Value.Kind == "cannot run") ortCannotRun.Add($"{name}: {verdict.Value.Reason}");
            else ortDisagrees.Add($"{name}: {verdict.Value.Reason}");
            File.Delete(saved);
        }

        var report = new StringBuilder();
        report.AppendLine($"backend suite '{category}': {cases.Count} cases, {identical} byte-identical after load+save, " +
            $"{matched} ORT-ran-and-matched at ORT_DISABLE_ALL and ORT_ENABLE_ALL, {ortCannotRun.Count} ORT cannot run (original too), " +
            $"{ortDisagrees.Count} ORT output differs from the suite (original too), {nonTensorIO} with sequence/optional I/O (byte check only), " +
            $"{failures.Count} failures");
        foreach (var line in ortCannotRun) report.AppendLine("  ORT cannot run: " + line);
        foreach (var line in ortDisagrees) report.AppendLine("  ORT differs from suite: " + line);
        foreach (var line in failures) report.AppendLine("  FAILURE: " + line);
        TestContext.WriteLine(report.ToString());
        Assert.IsEmpty(failures, report.ToString());
    }

    /// <summary>Shapes for the real models' symbolic inputs (MANIFEST.md), by model folder then input: small but typical.</summary>
    internal static IReadOnlyDictionary<string, long[]> RealModelShapes(string name) => name.Split('/')[0] switch
    {
        "ppocr-cls" => new Dictionary<string, long[]> { ["x"] = [1, 3, 48, 192] },
        "ppocr-det" => new Dictionary<string, long[]> { ["x"] = [1, 3, 128, 128] }, // H, W multiples of 32
        "silero-vad-legacy" => new Dictionary<string, long[]> { ["input"] = [1, 512], ["h"] = [2, 1, 64], ["c"] = [2, 1, 64] },
        _ => new Dictionary<string, long[]>(),
    };

    internal static readonly Dictionary<string, long> RealModelConstants = new() { ["sr"] = 16000 };

    /// <summary>The real models: every *.onnx in ../shared/models, and ResNet-18 from its NuGet package.</summary>
    public static IEnumerable<object[]> RealModels() =>
        TestPaths.AllSharedModels().Select(p => Path.GetRelativePath(TestPaths.SharedModels, p)).Append("ResNet18").Select(p => new object[] { p });

    internal static string RealModelPath(string name) => name == "ResNet18" ? TestPaths.ResNet18 : TestPaths.SharedModel(name);

    [TestMethod]
    [DynamicData(nameof(RealModels))]
    public void WhenRealModelIsLoadedAndSaved_ThenBytesAreIdenticalAndOrtOutputsAreUnchanged(string name)
    {
        var source = RealModelPath(name);
        var sourceBytes = File.ReadAllBytes(source);
        var sourceTime = File.GetLastWriteTimeUtc(source);
        using var temp = new TempDirectory();
        var saved = temp.File("model.onnx");
        using (var model = OnnxModel.Load(source))
        {
            model.Save(saved);
            Assert.IsTrue(File.ReadAllBytes(saved).AsSpan().SequenceEqual(sourceBytes), $"{name}: saved bytes differ from the source");
            var inputs = ModelInputs.Random(model.Proto, seed: 42, RealModelShapes(name), RealModelConstants);
            foreach (var level in OrtRunner.Levels)
            {
                var expected = OrtRunner.Run(source, inputs, level);
                var actual = OrtRunner.Run(saved, inputs, level);
                Assert.IsNull(TensorComparer.Difference(expected, actual, rtol: 0, atol: 0), $"{name} at {level}");
                TestContext.WriteLine($"{name}: byte-identical after load+save; ORT outputs identical at {level}: {string.Join(", ", actual)}");
            }
        }
        Assert.IsTrue(File.ReadAllBytes(source).AsSpan().SequenceEqual(sourceBytes), "the source file changed");
        Assert.AreEqual(sourceTime, File.GetLastWriteTimeUtc(source), "the source file was written");
    }

    [TestMethod]
    public void WhenMnistIsLoadedAndSaved_ThenHeldOutAccuracyIsStill97Point1Percent()
    {
        var images = NpyReader.Read(Path.Combine(TestPaths.SharedModels, "mnist-mlp", "data", "test_images.npy"));
        var labels = NpyReader.Read(Path.Combine(TestPaths.SharedModels, "mnist-mlp", "data", "test_labels.npy")).As<long>();
        CollectionAssert.AreEqual(new long[] { 1000, 784 }, images.Shape);
        Assert.AreEqual("<f4", images.Descr);
        Assert.HasCount(1000, labels);
        using var temp = new TempDirectory();
        var saved = temp.File("mnist.onnx");
        using (var model = OnnxModel.Load(TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx")))
        {
            model.Save(saved);
            var input = new TensorValue(ModelInputs.RealInputs(model.Proto)[0].Name, 1, images.Shape, images.Data);
            foreach (var level in OrtRunner.Levels)
            {
                var logits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(OrtRunner.Run(saved, [input], level)[0].Data);
                int correct = 0;
                for (int i = 0; i < labels.Length; i++)
                {
                    var row = logits.Slice(i * 10, 10);
                    if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row) == labels[i]) correct++;
                }
                TestContext.WriteLine($"mnist-mlp re-saved, {level}: top-1 {correct / 10.0:F1} % on the 1000 held-out digits");
                Assert.AreEqual(971, correct, $"top-1 at {level} (MANIFEST.md: 97.1 %)");
            }
        }
    }

    [TestMethod]
    [DynamicData(nameof(RealModels))]
    public void WhenRealModelIsSaved_ThenOnnxCheckerAcceptsIt(string name)
    {
        using var temp = new TempDirectory();
        var saved = temp.File("model.onnx");
        using (var model = OnnxModel.Load(RealModelPath(name))) model.Save(saved);
        const string Check = "import onnx, sys\ntry:\n    onnx.checker.check_model(sys.argv[1]); print('checker ok')\nexcept onnx.checker.ValidationError as e:\n    print('rejected:', str(e).splitlines()[0])";
        var (exit, ours) = PythonOnnx.Run(Check, saved);
        Assert.AreEqual(0, exit, ours);
        if (ours.StartsWith("checker ok", StringComparison.Ordinal))
        {
            TestContext.WriteLine($"{name}: onnx.checker accepts the saved model");
            return;
        }
        // Not ours if the checker says the same of the original (ResNet-18: CNTK wrote IR 3 without listing initializers as inputs).
        var (_, original) = PythonOnnx.Run(Check, RealModelPath(name));
        Assert.AreEqual(original.Trim(), ours.Trim(), $"onnx.checker rejects our {name} but not the original: {ours}");
        TestContext.WriteLine($"{name}: onnx.checker {ours.Trim()} — the same for the original file");
    }

    internal static (string Kind, string Reason)? CompareWithSuite(string modelPath, string caseDirectory, ModelProto proto)
    {
        foreach (var level in OrtRunner.Levels)
        {
            foreach (var dataSet in ModelInputs.DataSets(caseDirectory))
            {
                IReadOnlyList<TensorValue> actual;
                var inputs = ModelInputs.ReadInputs(dataSet, proto);
                var expected = ModelInputs.ReadOutputs(dataSet);
                try
                {
                    actual = OrtRunner.Run(modelPath, inputs, level);
                }
                catch (OnnxRuntimeException e)
                {
                    return ("cannot run", FirstLine(e.Message));
                }
                var difference = TensorComparer.Difference(expected, actual.Take(expected.Count).ToArray());
                if (difference is not null) return ("differs", $"{level}, {Path.GetFileName(dataSet)}: {difference}");
            }
        }
        return null;
    }

    private static string FirstLine(string message)
    {
        int newline = message.IndexOf('\n');
        return newline < 0 ? message : message[..newline];
    }
}
