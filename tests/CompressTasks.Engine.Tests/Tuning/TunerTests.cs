using System.Runtime.InteropServices;
using System.Text.Json;
using CompressTasks.Diagnostics;
using CompressTasks.Engine.Tuning;
using CompressTasks.Model.Onnx;
using CompressTasks.TestSupport;
using Google.Protobuf;

namespace CompressTasks.Engine.Tests.Tuning;

[TestClass]
public sealed class TunerTests
{
    private string _dir = null!;

    public TestContext TestContext { get; set; } = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-tune-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    // x[8,64] ─MatMul(A[64,64])─ Relu ─MatMul(B[64,16])─▶ y. B holds one weight of 1000 among values in ±1: with one
    // int8 scale per tensor (1000/127) every other weight of B rounds to 0, so B alone breaks any tight budget, A does not.
    private string OutlierModel()
    {
        var random = new Random(3);
        float[] Values(int n) => [.. Enumerable.Range(0, n).Select(_ => random.NextSingle() * 2 - 1)];
        var a = Values(64 * 64);
        var b = Values(64 * 16);
        b[5] = 1000;
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" }, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
        var g = model.Graph;
        g.Input.Add(Info("x", 8, 64));
        g.Output.Add(Info("y", 8, 16));
        g.Initializer.Add(new TensorProto { Name = "A", DataType = 1, Dims = { 64, 64 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(a.AsSpan())) });
        g.Initializer.Add(new TensorProto { Name = "B", DataType = 1, Dims = { 64, 16 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(b.AsSpan())) });
        g.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm1", Input = { "x", "A" }, Output = { "h" } });
        g.Node.Add(new NodeProto { OpType = "Relu", Name = "relu", Input = { "h" }, Output = { "r" } });
        g.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm2", Input = { "r", "B" }, Output = { "y" } });
        var path = Path.Combine(_dir, "outlier.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private const string OutlierRecipe = "verify:\n  min-cosine: 0.999\npasses:\n  - eliminate-identity\nauto:\n  candidates:\n    - quantize-weights-int8: { per-channel: false }\n";

    [TestMethod]
    public void WhenOneLayerIsSensitive_ItStaysAsItIsAndTheOtherIsCompressed()
    {
        var result = Tuner.Tune(OutlierModel(), Write("compression.yaml", OutlierRecipe), new TuneOptions());

        Assert.AreEqual(0, result.Assignment["A"], "A takes the treatment");
        Assert.AreEqual(-1, result.Assignment["B"], "B's outlier breaks the budget, so B stays float");
        Assert.IsLessThan(0.999, result.Table.Find("B", 0)!.Cosine, "B alone breaks the budget");
        Assert.IsGreaterThanOrEqualTo(0.999, result.TuningCosine);
        Assert.IsGreaterThanOrEqualTo(0.999, result.HeldOutCosine);
        Assert.IsTrue(result.Notes.Any(n => n.StartsWith("B kept as is", StringComparison.Ordinal)), string.Join("\n", result.Notes));
        StringAssert.Contains(result.TunedRecipeText, "include: [A]");
        Assert.IsNull(new Recipe.RecipeLoader(Passes.PassRegistry.Catalog).Parse(result.TunedRecipeText, Path.Combine(_dir, "t.yaml")).GetRecipeOrThrow().Auto,
            "the resolved recipe is an ordinary recipe");
    }

    [TestMethod]
    public void WhenTheCacheHoldsTheTune_NothingIsRecomputedAndTheRecipeIsTheSame()
    {
        var model = OutlierModel();
        var recipe = Write("compression.yaml", OutlierRecipe);
        var cache = Path.Combine(_dir, "cache");
        var first = Tuner.Tune(model, recipe, new TuneOptions { CacheDirectory = cache });
        var progress = new List<string>();
        var second = Tuner.Tune(model, recipe, new TuneOptions { CacheDirectory = cache, Progress = progress.Add });

        Assert.IsFalse(first.FromCache);
        Assert.IsTrue(second.FromCache);
        Assert.AreEqual(first.TunedRecipeText, second.TunedRecipeText);
        Assert.IsFalse(progress.Any(p => p.StartsWith("sensitivity", StringComparison.Ordinal) || p.StartsWith("tune:", StringComparison.Ordinal)), "no layer was measured again");
        var third = Tuner.Tune(model, recipe, new TuneOptions { CacheDirectory = cache, MinCosine = 0.99 });
        Assert.IsFalse(third.FromCache, "another budget is another tune");
    }

    [TestMethod]
    public void WhenTheObjectiveIsLatency_EveryCellCarriesMeasuredMillisecondsAndTheBudgetStillHolds()
    {
        var result = Tuner.Tune(OutlierModel(), Write("compression.yaml", OutlierRecipe.Replace("auto:\n", "auto:\n  objective: latency\n", StringComparison.Ordinal)), new TuneOptions());

        Assert.AreEqual("latency", result.Objective);
        Assert.IsTrue(result.Table.Cells.All(c => c.MillisecondsSaved is { } ms && double.IsFinite(ms)), "latency is measured per cell, never assumed");
        // Which layers pay off in time is the machine's call (weight-only int8 can be slower than float32), but B never
        // fits the budget, whatever it saves.
        Assert.AreEqual(-1, result.Assignment["B"]);
        Assert.IsGreaterThanOrEqualTo(0.999, result.HeldOutCosine);
        foreach (var c in result.Table.Cells) TestContext.WriteLine($"{c.Layer}: {c.MillisecondsSaved:F3} ms saved, cosine {c.Cosine:F6}");
    }

    // silero-vad's convolutions sit inside the two branches of an If (16 kHz and 8 kHz), reading weights of the main
    // graph (outer scope) and of the branches: they are layers like any other. Its `sr` input picks the branch
    // (Equal(sr, 16000)); pinned to 8000 and 16000 in turn, the samples run both, so each branch's layers get measured
    // drifts (with random sr, one branch never ran and its layers read cosine 1 whatever was done to them).
    [TestMethod]
    public void WhenWeightsAreReadInsideIfBranches_TheyAreTunedToo_AndPinnedSrValuesExerciseBothBranches()
    {
        var model = TestPaths.SharedModel("silero-vad-legacy/silero_vad_legacy.onnx");
        var recipe = Write("compression.yaml", "extends: optimize\ninputs:\n  input: [1, 512]\n  sr: { values: [8000, 16000] }\n  h: [2, 1, 64]\n  c: [2, 1, 64]\n" +
            "verify:\n  min-cosine: 0.999\nauto:\n  candidates:\n    - quantize-weights-int8: { min-elements: 256 }\n");
        var result = Tuner.Tune(model, recipe, new TuneOptions());

        var graph = ModelProto.Parser.ParseFrom(File.ReadAllBytes(model)).Graph;
        var readInMain = graph.Node.SelectMany(n => n.Input).ToHashSet();
        var branches = graph.Node.Single(n => n.OpType == "If").Attribute.ToDictionary(a => a.Name, a => a.G.Node.SelectMany(n => n.Input).ToHashSet());
        var branchLayers = result.Table.Layers.Where(l => branches.Values.Any(b => b.Contains(l)) && !readInMain.Contains(l)).ToList();
        Assert.IsNotEmpty(branchLayers, "the sensitivity table reaches the layers inside the If branches");
        foreach (var (branch, reads) in branches)
        {
            // Layers read by this branch alone: quantizing one moves the outputs only when samples take this branch.
            var own = result.Table.Cells.Where(c => reads.Contains(c.Layer) && !branches.Where(b => b.Key != branch).Any(b => b.Value.Contains(c.Layer))).ToList();
            Assert.IsNotEmpty(own, $"{branch} reads layers of its own");
            Assert.IsTrue(own.Any(c => c.Cosine < 1), $"{branch}'s layers have measured drifts: {string.Join(", ", own.Select(c => $"{c.Layer} {c.Cosine:R}"))}");
            TestContext.WriteLine($"{branch}: {own.Count} layer(s) of its own, lowest cosine alone {own.Min(c => c.Cosine):F6}");
        }
        Assert.IsTrue(result.Assignment.Any(a => a.Value >= 0 && branchLayers.Contains(a.Key)), "and the search compresses some of them");
        Assert.IsLessThan(result.Table.BaseBytes, result.TunedBytes);
        Assert.IsGreaterThanOrEqualTo(0.999, result.HeldOutCosine);
        TestContext.WriteLine($"{branchLayers.Count} of {result.Table.Layers.Count} layers read inside the branches; {result.Table.BaseBytes:N0} → {result.TunedBytes:N0} bytes, held-out cosine {result.HeldOutCosine:F6}");
    }

    [TestMethod]
    public void WhenTheRecipeHasNoAuto_CT1005()
    {
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Tuner.Tune(OutlierModel(), Write("compression.yaml", "passes:\n  - eliminate-identity\n"), new TuneOptions()));
        Assert.AreEqual(DiagnosticCodes.RecipeInvalidStructure, e.Code);
    }

    // A combined candidate on mnist-mlp: prune a quarter of a layer's weights, then 4 bits; the search treats it as one
    // treatment next to int8. The table (printed) measures it on every layer; the resolved recipe writes each layer that
    // took it as an entry per pass, and building that recipe gives the very bytes the search measured.
    [TestMethod]
    public void WhenACandidateCombinesPasses_ItIsOneTreatment_AndTheResolvedRecipeRebuildsTheSameBytes()
    {
        var data = Path.GetDirectoryName(TestPaths.SharedModel("mnist-mlp/data/calib_images.npy"));
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var recipe = Write("auto.yaml", $"extends: optimize\ncalibration: {data}/calib_images.npy\nevaluation: {data}/test_images.npy\nlabels: {data}/test_labels.npy\n" +
            "verify:\n  min-cosine: 0.9995\n  max-top1-drop: 0.5%\nauto:\n  candidates:\n    - quantize-weights-int8\n    - [{ prune-magnitude: { sparsity: 0.25 } }, quantize-int4]\n");
        var result = Tuner.Tune(model, recipe, new TuneOptions());

        const int Combined = 1;
        Assert.AreEqual("prune-magnitude { sparsity: 0.25 } then quantize-int4", result.Table.Treatments[Combined]);
        foreach (var layer in result.Table.Layers)
            TestContext.WriteLine($"{layer,-24} " + string.Join("; ", Enumerable.Range(0, result.Table.Treatments.Count)
                .Select(t => result.Table.Find(layer, t) is { } c ? $"{result.Table.Treatments[t]}: {c.BytesSaved:N0} bytes saved, cosine {c.Cosine:F6}" : $"{result.Table.Treatments[t]}: -"))
                + $" → {(result.Assignment[layer] < 0 ? "as is" : result.Table.Treatments[result.Assignment[layer]])}");
        TestContext.WriteLine(result.TunedRecipeText);
        Assert.IsTrue(result.Table.Layers.All(l => result.Table.Find(l, Combined) is not null), "the combined treatment is measured on every layer");
        var took = result.Assignment.Where(a => a.Value == Combined).Select(a => a.Key).ToList();
        Assert.IsNotEmpty(took, "some layer takes prune-then-int4: it saves the most of the two");
        var tuned = new Recipe.RecipeLoader(Passes.PassRegistry.Catalog).Parse(result.TunedRecipeText, Path.Combine(_dir, "tuned.yaml")).GetRecipeOrThrow();
        foreach (var pass in new[] { "prune-magnitude", "quantize-int4" })
            CollectionAssert.AreEquivalent(took, tuned.Passes.Single(p => p.Name == pass).Arguments.GetStringList("include").ToList(), $"{pass} runs on exactly the layers that took the combined treatment");
        Assert.IsLessThan(tuned.Passes.ToList().FindIndex(p => p.Name == "quantize-int4"), tuned.Passes.ToList().FindIndex(p => p.Name == "prune-magnitude"), "prune first");

        var output = Path.Combine(_dir, "rebuilt.onnx");
        Compressor.Run(new CompressionRequest(model, Write("tuned.yaml", result.TunedRecipeText), output, _dir) { Verify = false });
        Assert.AreEqual(result.TunedSha256, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(output))), "the resolved recipe rebuilds the tuned model byte for byte");
    }

    // mnist-mlp (labelled): the auto recipe builds, meets its budget on the held-out digits, writes its resolved recipe
    // beside the report, and is smaller than every uniform candidate that also meets the budget (int4 everywhere does
    // not: its last layer is the sensitive one).
    [TestMethod]
    public void WhenMnistIsTuned_TheBuildMeetsTheBudgetAndIsSmallerThanEveryUniformCandidateThatDoes()
    {
        var data = Path.GetDirectoryName(TestPaths.SharedModel("mnist-mlp/data/calib_images.npy"));
        string Common(string extra) => $"extends: optimize\ncalibration: {data}/calib_images.npy\nevaluation: {data}/test_images.npy\nlabels: {data}/test_labels.npy\n" +
            "verify:\n  min-cosine: 0.9995\n  max-top1-drop: 0.5%\n" + extra;
        string[] candidates = ["convert-weights-fp16", "quantize-weights-int8", "quantize-weights-int8: { per-channel: false, symmetric: false }", "quantize-int4"];
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var tuned = Compressor.Run(new CompressionRequest(model, Write("auto.yaml", Common("auto:\n  candidates:\n" + string.Concat(candidates.Select(c => $"    - {c}\n")))),
            Path.Combine(_dir, "tuned.onnx"), _dir));

        Assert.IsTrue(File.Exists(Path.Combine(_dir, "tuned.onnx" + Compressor.TunedRecipeSuffix)));
        using var report = JsonDocument.Parse(File.ReadAllText(tuned.ReportPath));
        Assert.AreEqual(JsonValueKind.Object, report.RootElement.GetProperty("tuning").ValueKind);
        StringAssert.Contains(File.ReadAllText(tuned.ReportPath.Replace(".json", ".html")), "id=\"pareto-chart\"");
        TestContext.WriteLine($"tuned: {tuned.OutputBytes:N0} bytes; {tuned.Summary}");
        int meeting = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            var recipe = Write($"uniform{i}.yaml", Common($"passes:\n  - {candidates[i]}\n"));
            try
            {
                var uniform = Compressor.Run(new CompressionRequest(model, recipe, Path.Combine(_dir, $"uniform{i}.onnx"), _dir));
                TestContext.WriteLine($"uniform {candidates[i]}: {uniform.OutputBytes:N0} bytes; {uniform.Summary}");
                Assert.IsLessThan(uniform.OutputBytes, tuned.OutputBytes, $"tuned vs uniform {candidates[i]}");
                meeting++;
            }
            catch (CompressTasksException e) when (e.Code == DiagnosticCodes.BudgetExceeded)
            {
                TestContext.WriteLine($"uniform {candidates[i]}: breaks the budget ({e.Message})");
            }
        }
        Assert.IsGreaterThan(0, meeting, "some uniform candidate meets the budget, so the comparison means something");
    }
}
