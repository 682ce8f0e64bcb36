using System.Runtime.InteropServices;
using System.Text.Json;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using CompressTasks.TestSupport;
using Google.Protobuf;

namespace CompressTasks.Engine.Tests;

[TestClass]
public sealed class CompressorTests
{
    private string _dir = null!;

    public TestContext TestContext { get; set; } = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-engine-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    // x[4,64] ─MatMul(W[64,32])─▶ ─Add(b)─▶ ─Identity─▶ z: one fusion, one identity, 8 KB of weights.
    private string WriteModel()
    {
        var random = new Random(5);
        var w = new float[64 * 32];
        for (int i = 0; i < w.Length; i++) w[i] = random.NextSingle() * 2 - 1;
        var model = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", 4, 64));
        g.Output.Add(Info("z", 4, 32));
        g.Initializer.Add(new TensorProto { Name = "W", DataType = 1, Dims = { 64, 32 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(w.AsSpan())) });
        g.Initializer.Add(new TensorProto { Name = "b", DataType = 1, Dims = { 32 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(w.AsSpan(0, 32))) });
        g.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm", Input = { "x", "W" }, Output = { "y" } });
        g.Node.Add(new NodeProto { OpType = "Add", Name = "add", Input = { "y", "b" }, Output = { "a" } });
        g.Node.Add(new NodeProto { OpType = "Identity", Name = "id", Input = { "a" }, Output = { "z" } });
        var path = Path.Combine(_dir, "model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private string WriteRecipe(string yaml)
    {
        var path = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private CompressionRequest Request(string model, string? recipe) =>
        new(model, recipe, Path.Combine(_dir, "out", "model.onnx"), Path.Combine(_dir, "report"));

    [TestMethod]
    public void WhenTheRecipeHasCalibrationData_GptqAndBiasCorrectionUseTheTeacher_AndWithoutItTheWeightIsSkipped()
    {
        var model = WriteModel();
        // 64 calibration rows for x [4, 64] (16 batches), written as a NumPy .npy beside the recipe.
        var random = new Random(3);
        var rows = new float[64 * 64];
        for (int i = 0; i < rows.Length; i++) rows[i] = random.NextSingle() + (i % 64) * 0.01f;
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (64, 64), }".PadRight(128 - 11) + "\n";
        File.WriteAllBytes(Path.Combine(_dir, "calib.npy"),
            [0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0, .. System.Text.Encoding.ASCII.GetBytes(header), .. MemoryMarshal.AsBytes(rows.AsSpan())]);
        const string Pass = "  - quantize-weights-int8: { method: gptq, bias-correction: true, min-elements: 64 }\n";

        var result = Compressor.Run(Request(model, WriteRecipe("extends: optimize\ncalibration: calib.npy\npasses:\n" + Pass + "verify:\n  min-cosine: 0.999\n")));
        var notes = Notes(result.ReportPath);
        Console.WriteLine($"with calibration: {notes}");
        StringAssert.Contains(notes, "'W': relative layer output error on calibration data: gptq");
        StringAssert.Contains(notes, "bias 'b' corrected", "after fuse-matmul-add the bias is Gemm's C");

        var without = Compressor.Run(Request(model, WriteRecipe("passes:\n" + Pass)));
        notes = Notes(without.ReportPath);
        Console.WriteLine($"without calibration: {notes}");
        StringAssert.Contains(notes, "'W': method: gptq needs calibration data");
    }

    private static string Notes(string reportPath)
    {
        using var report = JsonDocument.Parse(File.ReadAllText(reportPath));
        var pass = report.RootElement.GetProperty("passes").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "quantize-weights-int8");
        return string.Join("; ", pass.GetProperty("notes").EnumerateArray().Select(n => n.GetString()));
    }

    [TestMethod]
    public void WhenRecipeRuns_OutputIsSmallerReportedAndVerified()
    {
        var model = WriteModel();
        var source = File.ReadAllBytes(model);
        var result = Compressor.Run(Request(model, WriteRecipe("extends: optimize\npasses:\n  - convert-weights-fp16\nverify:\n  min-cosine: 0.999\n")));

        CollectionAssert.AreEqual(source, File.ReadAllBytes(model), "the source model is never modified");
        Assert.IsTrue(result.OutputBytes < result.InputBytes * 0.6, $"{result.OutputBytes} vs {result.InputBytes}");
        StringAssert.Contains(result.Summary, "cos ");
        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var root = report.RootElement;
        Assert.AreEqual(1, root.GetProperty("schemaVersion").GetInt32());
        var passes = root.GetProperty("passes").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("rewritten").GetInt32());
        Assert.AreEqual(1, passes["eliminate-identity"]);
        Assert.AreEqual(1, passes["fuse-matmul-add"]);
        Assert.AreEqual(2, passes["convert-weights-fp16"]);
        Assert.IsTrue(root.GetProperty("verification").GetProperty("enabled").GetBoolean());
        Assert.IsTrue(File.Exists(result.ReportPath.Replace(".report.json", ".report.html")));
        Assert.IsTrue(File.Exists(result.ReportPath.Replace(".report.json", ".report.md")));
    }

    [TestMethod]
    [DataRow(true, null)]
    [DataRow(false, null)]
    // The request (the build's CompressTasksLatency, the CLI's --latency) overrides the recipe either way.
    [DataRow(true, false)]
    [DataRow(false, true)]
    public void WhenLatencyIsAsked_ReportCarriesBothLatencies_AndNoneOtherwise(bool inRecipe, bool? inRequest)
    {
        bool latency = inRequest ?? inRecipe;
        var model = WriteModel();
        var yaml = "passes:\n  - convert-weights-fp16\nverify:\n  min-cosine: 0.999\n" + (inRecipe ? "  latency: true\n" : "");
        var result = Compressor.Run(Request(model, WriteRecipe(yaml)) with { Latency = inRequest });

        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var verification = report.RootElement.GetProperty("verification");
        foreach (var name in new[] { "originalLatency", "compressedLatency" })
        {
            var value = verification.GetProperty(name);
            // Only presence and shape are checked: timings on a shared machine are noise.
            Assert.AreEqual(latency ? JsonValueKind.Object : JsonValueKind.Null, value.ValueKind, name);
            if (latency) Assert.AreEqual(20, value.GetProperty("runs").GetInt32(), name);
        }
        Assert.AreEqual(latency, result.Summary.Contains("× faster", StringComparison.Ordinal) || result.Summary.Contains("× SLOWER", StringComparison.Ordinal), result.Summary);
    }

    [TestMethod]
    [DataRow("", "All", "cpu", 0)]
    [DataRow("  threads: 1\n  optimization: disabled\n", "Disabled", "cpu", 1)]
    // Without the CUDA package or a GPU, cuda falls back to CPU and the report says so.
    [DataRow("  optimization: basic\n  execution-provider: cuda\n", "Basic", null, 0)]
    public void SessionOptionsFromTheRecipe_AreUsedAndReported(string extra, string level, string? provider, int threads)
    {
        var model = WriteModel();
        var result = Compressor.Run(Request(model, WriteRecipe("passes:\n  - convert-weights-fp16\nverify:\n  min-cosine: 0.999\n" + extra)));

        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var verification = report.RootElement.GetProperty("verification");
        Assert.AreEqual(level, verification.GetProperty("optimizationLevel").GetString());
        Assert.AreEqual(threads, verification.GetProperty("threads").GetInt32());
        var ran = verification.GetProperty("executionProvider").GetString();
        if (provider is null) CollectionAssert.Contains(new[] { "cpu", "cuda" }, ran);
        else Assert.AreEqual(provider, ran);
        StringAssert.Contains(File.ReadAllText(result.ReportPath.Replace(".report.json", ".report.md")), $"execution provider {ran}");
        // Asking for CUDA and getting CPU is a CT3021 warning in the build log, never silent.
        bool fellBack = extra.Contains("cuda", StringComparison.Ordinal) && ran == "cpu";
        Assert.AreEqual(fellBack, result.Warnings.Any(w => CompressionResult.SplitWarning(w).Code == DiagnosticCodes.ExecutionProviderFallback), string.Join("\n", result.Warnings));
    }

    // y = x·W with W ~ 1e-7: float16 holds such weights only as subnormals (steps of 6e-8), so the outputs (~1e-6) move
    // by tens of percent and cosine drops, while the error stays under a millionth: float noise at unit scale. The build
    // passes and says why (CT3020) instead of failing on a meaningless cosine; max-abs-error still judges it.
    [TestMethod]
    public void WhenOutputsAreNearZero_ABrokenCosineAtFloatNoiseIsAWarningNotAFailure()
    {
        var random = new Random(9);
        var w = new float[64 * 32];
        for (int i = 0; i < w.Length; i++) w[i] = (random.NextSingle() * 2 - 1) * 1e-7f;
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" }, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
        model.Graph.Input.Add(Info("x", 4, 64));
        model.Graph.Output.Add(Info("y", 4, 32));
        model.Graph.Initializer.Add(new TensorProto { Name = "W", DataType = 1, Dims = { 64, 32 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(w.AsSpan())) });
        model.Graph.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm", Input = { "x", "W" }, Output = { "y" } });
        var path = Path.Combine(_dir, "tiny.onnx");
        File.WriteAllBytes(path, model.ToByteArray());

        var result = Compressor.Run(Request(path, WriteRecipe("passes:\n  - convert-weights-fp16\nverify:\n  min-cosine: 0.9999\n  min-snr: 40\n")));
        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var output = report.RootElement.GetProperty("verification").GetProperty("outputs")[0];
        TestContext.WriteLine($"cosine {output.GetProperty("cosine").GetDouble():R}, max abs {output.GetProperty("maxAbsError").GetDouble():G3}, peak {output.GetProperty("teacherPeak").GetDouble():G3}");
        Assert.IsLessThan(0.9999, output.GetProperty("cosine").GetDouble(), "the cosine itself is broken");
        var warning = result.Warnings.Select(CompressionResult.SplitWarning).Single(w => w.Code == DiagnosticCodes.NearZeroOutput);
        StringAssert.Contains(warning.Message, "output 'y'");
        StringAssert.Contains(File.ReadAllText(result.ReportPath.Replace(".report.json", ".report.md")), "float32 rounding noise");
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(path, WriteRecipe("passes:\n  - convert-weights-fp16\nverify:\n  min-cosine: 0.9999\n  max-abs-error: 1e-9\n"))));
        Assert.AreEqual(DiagnosticCodes.BudgetExceeded, e.Code);
        StringAssert.Contains(e.Message, "max-abs-error");
    }

    // A NumPy v1 .npy of float32 rows: magic, version, header length, a dict header padded to 64 bytes, the data.
    private string WriteNpy(string name, float[] values, params long[] shape)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}), }}".PadRight(64 - 10 - 1) + "\n";
        var path = Path.Combine(_dir, name);
        using var stream = File.Create(path);
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)header.Length, 0]);
        stream.Write(System.Text.Encoding.ASCII.GetBytes(header));
        stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
        return path;
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenRecipeNamesCalibrationData_QuantizeStaticRunsOnIt_AndSkipsWithoutIt(bool withData)
    {
        var model = WriteModel();
        var random = new Random(9);
        WriteNpy("calib.npy", Enumerable.Range(0, 40 * 64).Select(_ => random.NextSingle() * 2 - 1).ToArray(), 40, 64);
        var result = Compressor.Run(Request(model, WriteRecipe(
            $"extends: int8-static\n{(withData ? "calibration: calib.npy\n" : "")}verify:\n  min-cosine: 0.99\n")));

        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var pass = report.RootElement.GetProperty("passes").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "quantize-static");
        var notes = string.Join("\n", pass.GetProperty("notes").EnumerateArray().Select(n => n.GetString()));
        // The fused Gemm (input 4 rows, so 10 batches of 4) is quantized; without data the pass says why not.
        Assert.AreEqual(withData ? 1 : 0, pass.GetProperty("rewritten").GetInt32(), notes);
        StringAssert.Contains(notes, withData ? "on 10 batch(es)" : "no calibration data");
        Assert.IsTrue(withData ? result.OutputBytes < result.InputBytes * 0.5 : result.OutputBytes > result.InputBytes * 0.9, $"{result.OutputBytes} vs {result.InputBytes}");
    }

    // x[4,64] ─MatMul(W[64,32])─ Add(z[4,32]) ─▶ y: a model with two inputs.
    private string WriteTwoInputModel()
    {
        var random = new Random(6);
        var w = new float[64 * 32];
        for (int i = 0; i < w.Length; i++) w[i] = random.NextSingle() * 2 - 1;
        var model = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", 4, 64));
        g.Input.Add(Info("z", 4, 32));
        g.Output.Add(Info("y", 4, 32));
        g.Initializer.Add(new TensorProto { Name = "W", DataType = 1, Dims = { 64, 32 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(w.AsSpan())) });
        g.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm", Input = { "x", "W" }, Output = { "h" } });
        g.Node.Add(new NodeProto { OpType = "Add", Name = "add", Input = { "h", "z" }, Output = { "y" } });
        var path = Path.Combine(_dir, "two.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenAModelHasTwoInputs_CalibrationMapsThemToFilesAndEvaluationIsANamedNpz_OrAMissingInputIsCT3010(bool complete)
    {
        var model = WriteTwoInputModel();
        var random = new Random(9);
        float[] Rows(int rows, int width) => [.. Enumerable.Range(0, rows * width).Select(_ => random.NextSingle() * 2 - 1)];
        WriteNpy("cx.npy", Rows(40, 64), 40, 64);
        WriteNpy("cz.npy", Rows(40, 32), 40, 32);
        var arrays = Directory.CreateDirectory(Path.Combine(_dir, "eval")).FullName;
        File.Move(WriteNpy("x.npy", Rows(20, 64), 20, 64), Path.Combine(arrays, "x.npy"));
        if (complete) File.Move(WriteNpy("z.npy", Rows(20, 32), 20, 32), Path.Combine(arrays, "z.npy"));
        System.IO.Compression.ZipFile.CreateFromDirectory(arrays, Path.Combine(_dir, "eval.npz"));
        var recipe = WriteRecipe("extends: int8-static\ncalibration:\n  z: cz.npy\n  x: cx.npy\nevaluation: eval.npz\nverify:\n  min-cosine: 0.99\n");

        if (!complete)
        {
            var error = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(model, recipe)));
            Assert.AreEqual(DiagnosticCodes.DataInputMissing, error.Code);
            StringAssert.Contains(error.Message, "nothing for input 'z'");
            return;
        }
        var result = Compressor.Run(Request(model, recipe));
        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var pass = report.RootElement.GetProperty("passes").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "quantize-static");
        var notes = string.Join("\n", pass.GetProperty("notes").EnumerateArray().Select(n => n.GetString()));
        Assert.IsTrue(pass.GetProperty("rewritten").GetInt32() > 0, notes);
        StringAssert.Contains(notes, "on 10 batch(es)", "40 calibration rows of each input in batches of 4");
        var verification = report.RootElement.GetProperty("verification");
        Assert.AreEqual("eval.npz", verification.GetProperty("inputs").GetString());
        Assert.AreEqual(5, verification.GetProperty("samples").GetInt32(), "20 evaluation rows in batches of 4");
    }

    [TestMethod]
    public void Report_ListsTheWeightsCompressionChanged()
    {
        var model = WriteModel();
        var result = Compressor.Run(Request(model, WriteRecipe("passes:\n  - convert-weights-fp16\nverify: off\n")));

        using var report = JsonDocument.Parse(File.ReadAllText(result.ReportPath));
        var w = report.RootElement.GetProperty("layers").EnumerateArray().Single(l => l.GetProperty("name").GetString() == "W");
        Assert.AreEqual((32, 16, 2048L), (w.GetProperty("bitsBefore").GetInt32(), w.GetProperty("bitsAfter").GetInt32(), w.GetProperty("elements").GetInt64()));
        StringAssert.Contains(File.ReadAllText(result.ReportPath.Replace(".report.json", ".report.md")), "| W | float → float16 | 32 → 16 | 2048 |");
    }

    [TestMethod]
    public void Progress_ReportsEachLongStep()
    {
        var model = WriteModel();
        var lines = new List<string>();
        var yaml = "passes:\n  - eliminate-identity\n  - convert-weights-fp16\nverify:\n  min-cosine: 0.999\n  latency: true\n";
        Compressor.Run(Request(model, WriteRecipe(yaml)) with { Progress = lines.Add });

        string all = string.Join("\n", lines);
        foreach (var expected in new[] { "loading", "pass eliminate-identity", "pass convert-weights-fp16", "saving", "verifying on", "verified ", "measuring latency" })
            Assert.IsTrue(lines.Any(l => l.Contains(expected, StringComparison.Ordinal)), $"no '{expected}' in:\n{all}");
        Assert.IsTrue(lines.All(l => l.StartsWith(Path.GetFileName(model) + ": ", StringComparison.Ordinal)), all);
        StringAssert.Matches(all, new System.Text.RegularExpressions.Regex(@"verified \d+ sample\(s\)"));
    }

    [TestMethod]
    // x is float32 [4, 64]: 256 elements.
    [DataRow("inputs:\n  x: { value: [1, 2, 3] }\n", DiagnosticCodes.RecipeInputValueMismatch, 2, 15, "256 numbers, not 3")]
    [DataRow("inputs:\n  x: { values: [0.5, 1e39] }\n", DiagnosticCodes.RecipeInputValueMismatch, 2, 22, "outside")]
    [DataRow("inputs:\n  sr: { value: 16000 }\n", DiagnosticCodes.RecipeInputNotInModel, 2, 16, "its inputs: x")]
    public void WhenAPinnedInputValueDoesNotFitTheModel_RunFailsAtTheValue(string inputs, string code, int line, int column, string message)
    {
        var recipe = WriteRecipe(inputs + "passes:\n  - convert-weights-fp16\n");
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(WriteModel(), recipe)));

        Assert.AreEqual(code, e.Code, e.ToString());
        Assert.AreEqual((recipe, line, column), (e.File, e.Line, e.Column), e.ToString());
        StringAssert.Contains(e.Message, message);
    }

    [TestMethod]
    public void WhenAnInputValueIsPinned_VerificationRunsOnIt()
    {
        // Every x = 0: both models output their bias exactly (fp16 rounds W only, and 0·W = 0), so even max-abs-error 0
        // holds; on random x the same budget breaks.
        var model = WriteModel();
        var pinned = Compressor.Run(Request(model, WriteRecipe("inputs:\n  x: { value: 0 }\npasses:\n  - convert-weights-fp16: { include: [W] }\nverify:\n  max-abs-error: 0\n")));
        Assert.IsTrue(File.Exists(pinned.OutputPath));
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(model, WriteRecipe("passes:\n  - convert-weights-fp16: { include: [W] }\nverify:\n  max-abs-error: 0\n"))));
        Assert.AreEqual(DiagnosticCodes.BudgetExceeded, e.Code);
    }

    [TestMethod]
    public void WhenBudgetIsBroken_RunFailsAtTheVerifyLineAndLeavesNoOutput()
    {
        var model = WriteModel();
        var recipe = WriteRecipe("passes:\n  - convert-weights-fp16\n\nverify:\n  max-abs-error: 0.0000001\n");
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(model, recipe)));
        Assert.AreEqual(DiagnosticCodes.BudgetExceeded, e.Code);
        Assert.AreEqual(recipe, e.File);
        Assert.AreEqual(4, e.Line);
        StringAssert.Contains(e.Message, "max-abs-error");
        Assert.IsFalse(File.Exists(Path.Combine(_dir, "out", "model.onnx")));
        Assert.IsTrue(File.Exists(Path.Combine(_dir, "report", "model.onnx.report.json")), "the report explains the failure");
    }

    [TestMethod]
    public void WhenTheRecipeSetsAnOpset_TheModelIsUpgradedFirstSoInt8CanRun()
    {
        var path = WriteModel();
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        model.OpsetImport[0].Version = 9;
        File.WriteAllBytes(path, model.ToByteArray());

        var kept = Compressor.Run(Request(path, WriteRecipe("passes:\n  - quantize-weights-int8: { min-elements: 16 }\nverify:\n  min-cosine: 0.999\n")));
        Assert.AreEqual(9, ModelProto.Parser.ParseFrom(File.ReadAllBytes(kept.OutputPath)).OpsetImport[0].Version, "no silent upgrade");
        Assert.IsFalse(ModelProto.Parser.ParseFrom(File.ReadAllBytes(kept.OutputPath)).Graph.Node.Any(n => n.OpType == "DequantizeLinear"));

        var upgraded = Compressor.Run(Request(path, WriteRecipe("opset: 13\npasses:\n  - quantize-weights-int8: { min-elements: 16 }\nverify:\n  min-cosine: 0.999\n")));
        var output = ModelProto.Parser.ParseFrom(File.ReadAllBytes(upgraded.OutputPath));
        Assert.AreEqual(13, output.OpsetImport.Single(o => o.Domain == "").Version);
        Assert.IsTrue(output.Graph.Node.Any(n => n.OpType == "DequantizeLinear" && n.Attribute.Any(a => a.Name == "axis")), "per-channel int8 after the upgrade");
        CollectionAssert.AreEqual(new[] { "convert-opset", "quantize-weights-int8" }, upgraded.PassesRun.ToArray());
    }

    [TestMethod]
    public void WhenTheBrokenBudgetComesFromABaseRecipe_TheErrorPointsAtTheBase()
    {
        var model = WriteModel();
        var baseRecipe = Path.Combine(_dir, "base.yaml");
        File.WriteAllText(baseRecipe, "# shared budget\npasses:\n  - convert-weights-fp16\n  # indented: the key's column counts\n  \nverify:   \n  max-abs-error: 0.0000001\n");
        var recipe = WriteRecipe("extends: ./base.yaml\npasses:\n  - eliminate-identity\n");
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(model, recipe)));
        Assert.AreEqual(DiagnosticCodes.BudgetExceeded, e.Code);
        Assert.AreEqual((Path.GetFullPath(baseRecipe), 6, 1), (e.File, e.Line, e.Column));
    }

    [TestMethod]
    public void WhenCosineBudgetIsBroken_MessageAndReportNameTheFirstDivergingNode()
    {
        var model = WriteModel();
        // fp16 weights move every product a little, so a min-cosine of 1 breaks at the first MatMul.
        var recipe = WriteRecipe("passes:\n  - convert-weights-fp16\nverify:\n  min-cosine: 1\n");
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(model, recipe)));

        StringAssert.Contains(e.Message, "first divergence: node 'mm' (MatMul), cosine ");
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "report", "model.onnx.report.json")));
        Assert.AreEqual("mm", report.RootElement.GetProperty("verification").GetProperty("firstDivergence").GetProperty("node").GetString());
    }

    // silero-vad's layers live inside the branches of its If (sr pinned to 16000 picks one): when per-tensor int8 breaks
    // the budget, the message names the If, the branch that ran and the node inside where the drift starts.
    [TestMethod]
    public void WhenTheDriftStartsInsideAnIfBranch_TheMessageNamesTheBranchAndTheNodeInside()
    {
        var model = TestPaths.SharedModel("silero-vad-legacy/silero_vad_legacy.onnx");
        var recipe = WriteRecipe("extends: optimize\ninputs:\n  input: [1, 512]\n  sr: { value: 16000 }\n  h: [2, 1, 64]\n  c: [2, 1, 64]\n" +
            "passes:\n  - quantize-weights-int8: { per-channel: false, min-elements: 256 }\nverify:\n  min-cosine: 0.99999\n");
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(model, recipe)));

        Assert.AreEqual(DiagnosticCodes.BudgetExceeded, e.Code);
        TestContext.WriteLine(e.Message);
        StringAssert.Matches(e.Message, new System.Text.RegularExpressions.Regex(@"first divergence: node '[^']+' \(If\), cosine [^,]+, relative error [^,]+, inside its (then|else)_branch at node '[^']+' \("));
    }

    [TestMethod]
    public void WhenModelIsCorrupt_RunFailsWithItsCodeAndWritesNothing()
    {
        var model = WriteModel();
        var bytes = File.ReadAllBytes(model);
        File.WriteAllBytes(model, bytes[..(bytes.Length / 2)]);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(Request(model, null)));
        Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code);
        Assert.IsFalse(Directory.Exists(Path.Combine(_dir, "out")) && Directory.EnumerateFileSystemEntries(Path.Combine(_dir, "out")).Any());
    }

    [TestMethod]
    public void WhenRecipeHasSeveralErrors_AllAreReported()
    {
        var model = WriteModel();
        var recipe = WriteRecipe("passes:\n  - fuse-conv-bm\n  - convert-weights-fp16: { min-elemnts: 3 }\n");
        var e = Assert.ThrowsExactly<AggregateException>(() => Compressor.Run(Request(model, recipe)));
        var codes = e.InnerExceptions.Cast<CompressTasksException>().Select(x => (x.Code, x.Line)).ToList();
        CollectionAssert.AreEqual(new[] { (DiagnosticCodes.RecipeUnknownPass, 2), (DiagnosticCodes.RecipeUnknownParameter, 3) }, codes);
    }

    [TestMethod]
    public void WhenOutputWouldOverwriteTheSource_RunRefuses()
    {
        var model = WriteModel();
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(new CompressionRequest(model, null, model, _dir)));
        Assert.AreEqual(DiagnosticCodes.ToolUsage, e.Code);
    }

    [TestMethod]
    public void WhenNothingChanged_SecondRunComesFromTheCacheWithTheSameBytes()
    {
        var model = WriteModel();
        var recipe = WriteRecipe("extends: optimize\npasses:\n  - convert-weights-fp16\n");
        var request = Request(model, recipe) with { CacheDirectory = Path.Combine(_dir, "cache") };
        var first = Compressor.Run(request);
        var firstBytes = File.ReadAllBytes(first.OutputPath);
        File.Delete(first.OutputPath);
        var second = Compressor.Run(request);
        Assert.IsFalse(first.FromCache);
        Assert.IsTrue(second.FromCache);
        CollectionAssert.AreEqual(firstBytes, File.ReadAllBytes(second.OutputPath));

        File.AppendAllText(recipe, "verify: off\n");
        Assert.IsFalse(Compressor.Run(request).FromCache, "a changed recipe is a new key");
    }

    [TestMethod]
    public void WhenRunTwiceWithoutCache_OutputsAreByteIdentical()
    {
        var model = WriteModel();
        var recipe = WriteRecipe("extends: optimize\npasses:\n  - convert-weights-fp16\n");
        var first = File.ReadAllBytes(Compressor.Run(Request(model, recipe)).OutputPath);
        var second = File.ReadAllBytes(Compressor.Run(Request(model, recipe)).OutputPath);
        CollectionAssert.AreEqual(first, second);
    }

    [TestMethod]
    [DataRow("other.onnx", DisplayName = "the build read another name")]
    [DataRow("", DisplayName = "the build read none")]
    public void WhenTheBuildReadAnotherOutputThanTheRecipeResolvesTo_RunFailsAtTheOutputLine(string expected)
    {
        var model = WriteModel();
        var recipe = WriteRecipe("passes:\n  - eliminate-identity\noutput: small.onnx\n");
        var request = Request(model, recipe) with { ExpectedRecipeOutput = expected };

        var e = Assert.ThrowsExactly<CompressTasksException>(() => Compressor.Run(request));

        Assert.AreEqual(DiagnosticCodes.RecipeOutputMismatch, e.Code);
        Assert.AreEqual((recipe, 3, 9), (e.File, e.Line, e.Column));
        Assert.IsFalse(File.Exists(request.OutputPath));
        // The name the recipe resolves to passes.
        Assert.IsTrue(File.Exists(Compressor.Run(request with { ExpectedRecipeOutput = "small.onnx" }).OutputPath));
    }

    [TestMethod]
    public void DefaultOutputPath_IsTheRecipesOutputBesideTheModel_OrNullWithoutOne()
    {
        var model = WriteModel();
        Assert.AreEqual(Path.Combine(_dir, "int8", "small.onnx"),
            Compressor.DefaultOutputPath(model, WriteRecipe("passes: [eliminate-identity]\noutput: int8/small.onnx\n")));
        Assert.IsNull(Compressor.DefaultOutputPath(model, WriteRecipe("passes: [eliminate-identity]\n")));
    }

    [TestMethod]
    public void DependencyFile_ListsBaseRecipesAndData_OnEveryRunIncludingCacheHits()
    {
        var model = WriteModel();
        var random = new Random(3);
        WriteNpy("calib.npy", Enumerable.Range(0, 8 * 64).Select(_ => random.NextSingle()).ToArray(), 8, 64);
        Directory.CreateDirectory(Path.Combine(_dir, "eval"));
        File.Move(WriteNpy("e.npy", Enumerable.Range(0, 8 * 64).Select(_ => random.NextSingle()).ToArray(), 8, 64), Path.Combine(_dir, "eval", "e.npy"));
        Directory.CreateDirectory(Path.Combine(_dir, "shared"));
        File.WriteAllText(Path.Combine(_dir, "shared", "base.yaml"), "extends: optimize\ncalibration: ../calib.npy\n");
        var recipe = WriteRecipe("extends: shared/base.yaml\nevaluation: eval\nverify: { min-cosine: 0.99 }\n");
        var deps = Path.Combine(_dir, "out", "model.onnx.inputs");
        var request = Request(model, recipe) with { CacheDirectory = Path.Combine(_dir, "cache"), DependencyFile = deps };

        Assert.IsFalse(Compressor.Run(request).FromCache);
        string[] expected =
        [
            Path.Combine(_dir, "shared", "base.yaml"),
            Path.Combine(_dir, "calib.npy"),
            Path.Combine(_dir, "eval") + Path.DirectorySeparatorChar,
            Path.Combine(_dir, "eval", "e.npy"),
        ];
        CollectionAssert.AreEqual(expected, File.ReadAllLines(deps));

        File.Delete(deps);
        Assert.IsTrue(Compressor.Run(request).FromCache);
        CollectionAssert.AreEqual(expected, File.ReadAllLines(deps), "a cache hit writes it too");
        Assert.IsFalse(File.Exists(Path.Combine(_dir, "report", "model.onnx.inputs")), "only where asked");
    }

    [TestMethod]
    public void WhenABaseRecipeFileChanges_TheCacheKeyChanges()
    {
        var model = WriteModel();
        Directory.CreateDirectory(Path.Combine(_dir, "shared"));
        var baseRecipe = Path.Combine(_dir, "shared", "base.yaml");
        File.WriteAllText(baseRecipe, "extends: optimize\n");
        var request = Request(model, WriteRecipe("extends: shared/base.yaml\nverify: off\n")) with { CacheDirectory = Path.Combine(_dir, "cache") };
        Assert.IsFalse(Compressor.Run(request).FromCache);
        Assert.IsTrue(Compressor.Run(request).FromCache);

        // The base is named relative to the recipe, not to the current directory (which the test host does not change).
        Assert.AreNotEqual(Path.GetFullPath(Environment.CurrentDirectory), _dir);
        File.AppendAllText(baseRecipe, "passes:\n  - convert-weights-fp16\n");
        Assert.IsFalse(Compressor.Run(request).FromCache, "a changed base recipe is a new key");
    }
}
