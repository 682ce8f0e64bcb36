using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests;

/// <summary>
/// The <c>optimize</c> preset (to a fixed point, then eliminate-dead) on every real
/// model: outputs agree with the original in ONNX Runtime at both optimization levels, onnx.checker accepts the
/// result, and the size change is printed.
/// </summary>
[TestClass]
public sealed class RealModelsTests
{
    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> Models() =>
    [
        ["resnet18"],
        ["mnist-mlp/mnist-mlp.onnx"],
        ["ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx"],
        ["ppocr-det/ch_PP-OCRv4_det_infer.onnx"],
        ["silero-vad-legacy/silero_vad_legacy.onnx"],
        ["wakeword-hello/hello_deepa.onnx"],
        ["minilm"],
    ];

    /// <summary>A real-model name of <see cref="Models"/> as a file: the two NuGet-restored ones, or one of ../shared/models.</summary>
    internal static string PathOf(string name) => name switch
    {
        "resnet18" => TestPaths.ResNet18,
        "minilm" => TestPaths.MiniLM,
        _ => TestPaths.SharedModel(name),
    };

    /// <summary>The node count of ONNX Runtime's own offline optimizer (basic: the yardstick for optimize; extended: ORT's own fusions).</summary>
    internal static int OrtBasicNodes(string path, OptimizationLevel level = OptimizationLevel.Basic)
    {
        var basic = Path.Combine(Path.GetTempPath(), $"ct-ort-offline-{Guid.NewGuid():N}.onnx");
        try
        {
            using (ModelSession.Open(path, new RuntimeOptions { Optimization = level, OptimizedModelPath = basic })) { }
            using var optimized = OnnxModel.Load(basic);
            return PassManager.CountNodes(Graph.Open(optimized));
        }
        finally
        {
            File.Delete(basic);
            File.Delete(basic + ".data");
        }
    }

    [TestMethod]
    [DynamicData(nameof(Models))]
    public void WhenOptimized_OutputsAgreeAndCheckerAccepts(string name)
    {
        var path = PathOf(name);
        using var model = OnnxModel.Load(path);
        int nodesBefore = PassManager.CountNodes(Graph.Open(model));
        var steps = OptimizePreset.Steps().Append(new PassStep(PassRegistry.Get("eliminate-dead"), new PassArguments(PassRegistry.Get("eliminate-dead").Descriptor))).ToList();
        var runs = PassManager.Run(model, steps, rounds: 4, validateEachPass: true);
        int nodesAfter = PassManager.CountNodes(Graph.Open(model));

        var output = Path.Combine(Path.GetTempPath(), $"ct-optimize-{Guid.NewGuid():N}.onnx");
        try
        {
            model.Save(output);
            int ortBasic = OrtBasicNodes(path);
            TestContext.WriteLine($"{name}: {nodesBefore} → {nodesAfter} nodes (ORT basic: {ortBasic}), {new FileInfo(path).Length:N0} → {new FileInfo(output).Length:N0} bytes; "
                + string.Join(", ", runs.Where(r => r.Result.Rewritten > 0).Select(r => $"{r.Name} ×{r.Result.Rewritten}")));
            foreach (var run in runs)
                foreach (var note in run.Result.Notes.Take(3)) TestContext.WriteLine($"  {run.Name}: {note}");
            Assert.IsTrue(nodesAfter <= nodesBefore);
            Assert.IsTrue(nodesAfter <= ortBasic, $"{name}: {nodesAfter} nodes after optimize, ORT's basic level reaches {ortBasic}");
            // The checker must accept what we write whenever it accepts the original (ResNet-18's CNTK export is
            // rejected as it comes: IR 3 wants every initializer declared as a graph input, and CNTK did not).
            const string check = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1])); print('ok')";
            var (originalExit, originalText) = PythonOnnx.Run(check, path);
            var (exit, text) = PythonOnnx.Run(check, output);
            if (originalExit == 0) Assert.AreEqual(0, exit, $"onnx.checker rejected the optimized {name}: {text}");
            else TestContext.WriteLine($"onnx.checker rejects the original {name} too: {originalText.Trim().Split('\n')[^1]}");
            var (shapes, fixedInputs) = InputsFor(name);
            // fp32 rewrites reorder sums, so agreement is to rounding: 1e-4 relative on the transformer, whose outputs are O(1).
            var (rtol, atol) = name == "minilm" ? (1e-4, 1e-4) : (1e-3, 1e-4);
            PassHarness.AssertSameOutputs(File.ReadAllBytes(path), File.ReadAllBytes(output), shapes, rtol: rtol, atol: atol, fixedInputs: fixedInputs, samples: 1);
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>
    /// The <c>optimize-ort</c> preset (optimize plus the com.microsoft fusions) on the real models that have something
    /// for them: the fused operators appear, and the outputs agree with the original in ONNX Runtime at both levels.
    /// </summary>
    [TestMethod]
    [DataRow("minilm", "SkipLayerNormalization,Gelu,LayerNormalization,Attention")]
    [DataRow("wakeword-hello/hello_deepa.onnx", "LayerNormalization")]
    [DataRow("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx", "FusedConv")]
    [DataRow("ppocr-det/ch_PP-OCRv4_det_infer.onnx", "FusedConv")]
    public void WhenOptimizedForOnnxRuntime_FusedOpsAppearAndOutputsAgree(string name, string fusedOps)
    {
        var path = PathOf(name);
        using var model = OnnxModel.Load(path);
        int nodesBefore = PassManager.CountNodes(Graph.Open(model));
        var dead = PassRegistry.Get("eliminate-dead");
        var steps = OptimizePreset.Steps("optimize-ort").ToList();
        if (name == "minilm")
        {
            // fuse-attention is named, not in the preset (not faster on ORT's CPU provider): MiniLM tests it on a real model.
            var attention = PassRegistry.Get("fuse-attention");
            steps.Add(new PassStep(attention, new PassArguments(attention.Descriptor, [new("domain", "com.microsoft")])));
        }
        steps.Add(new PassStep(dead, new PassArguments(dead.Descriptor)));
        var runs = PassManager.Run(model, steps, rounds: 4, validateEachPass: true);
        int nodesAfter = PassManager.CountNodes(Graph.Open(model));
        var ops = model.Proto.Graph.Node.Select(n => n.OpType).ToHashSet();
        TestContext.WriteLine($"{name}: {nodesBefore} → {nodesAfter} nodes (ORT extended: {OrtBasicNodes(path, OptimizationLevel.Extended)}); "
            + string.Join(", ", runs.Where(r => r.Result.Rewritten > 0).Select(r => $"{r.Name} ×{r.Result.Rewritten}")));
        foreach (var run in runs.Where(r => r.Name.StartsWith("fuse-", StringComparison.Ordinal)))
            foreach (var note in run.Result.Notes.Take(2)) TestContext.WriteLine($"  {run.Name}: {note}");
        foreach (var op in fusedOps.Split(','))
            Assert.IsTrue(ops.Contains(op), $"{name}: no {op} after optimize-ort (+ fuse-attention on MiniLM)");
        // MiniLM has 6 encoder layers: each self-attention becomes one Attention (their padded rows are compared below).
        if (name == "minilm") Assert.AreEqual(6, model.Proto.Graph.Node.Count(n => n.OpType == "Attention" && n.Domain == "com.microsoft"));
        var (shapes, fixedInputs) = InputsFor(name);
        var (rtol, atol) = name == "minilm" ? (1e-4, 1e-4) : (1e-3, 1e-4);
        PassHarness.AssertSameOutputs(File.ReadAllBytes(path), PassHarness.Bytes(model), shapes, rtol: rtol, atol: atol, fixedInputs: fixedInputs, samples: 1);
    }

    // Shapes for free dimensions, and inputs that must hold real values (silero's sample rate selects a branch).
    internal static (Dictionary<string, long[]>?, Dictionary<string, TensorValue>?) InputsFor(string name) => name switch
    {
        _ when name.StartsWith("ppocr-det", StringComparison.Ordinal) => (new() { ["x"] = [1, 3, 320, 320] }, null),
        _ when name.StartsWith("ppocr-cls", StringComparison.Ordinal) => (new() { ["x"] = [1, 3, 48, 192] }, null),
        _ when name.StartsWith("silero", StringComparison.Ordinal) => (
            new() { ["input"] = [1, 512], ["h"] = [2, 1, 64], ["c"] = [2, 1, 64] },
            new() { ["sr"] = new TensorValue(7, [], BitConverter.GetBytes(16000L)) }),
        _ when name.StartsWith("mnist", StringComparison.Ordinal) => (new() { ["input"] = [4, 784] }, null),
        "minilm" => (null, MiniLMModel.Inputs(batch: 2, sequence: 16, seed: 0)),
        _ => (null, null),
    };
}
