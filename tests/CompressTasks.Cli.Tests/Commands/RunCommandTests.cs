using CompressTasks.Cli.Commands;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Cli.Tests.Commands;

[TestClass]
public sealed class RunCommandTests
{
    private string _dir = "";

    [TestInitialize]
    public void Init() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "ct-run-" + Guid.NewGuid().ToString("N")[..8]));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void WhenResponseFileHasGoodAndCorruptModels_Run_CompressesGood_AndReportsCorruptCanonically()
    {
        string good = Path.Combine(_dir, "good.onnx"), bad = Path.Combine(_dir, "bad.onnx");
        WriteRelu(good);
        File.WriteAllBytes(bad, [0x0a, 0xff, 0xff, 0xff, 0x0f]);
        string rsp = Path.Combine(_dir, "jobs.rsp");
        File.WriteAllLines(rsp,
        [
            "# comment",
            $$"""{"model":{{Json(bad)}},"output":{{Json(Path.Combine(_dir, "out", "bad.onnx"))}}}""",
            "",
            $$"""{"model":{{Json(good)}},"output":{{Json(Path.Combine(_dir, "out", "good.onnx"))}},"reportDir":{{Json(Path.Combine(_dir, "reports"))}}}""",
        ]);
        var (stdout, stderr) = (new StringWriter(), new StringWriter());

        int code = RunCommand.Run(["--response", rsp], stdout, stderr);

        Assert.AreEqual(1, code);
        // Progress lines carry their prefix (the MSBuild task logs them at normal importance); the one summary is the rest.
        var lines = stdout.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var summaries = lines.Where(l => !l.StartsWith(RunCommand.ProgressPrefix, StringComparison.Ordinal)).ToArray();
        Assert.AreEqual(1, summaries.Length, stdout.ToString());
        StringAssert.StartsWith(summaries[0], "good.onnx: ");
        CollectionAssert.Contains(lines, RunCommand.ProgressPrefix + "good.onnx: saving " + Path.Combine(_dir, "out", "good.onnx"));
        StringAssert.Contains(stdout.ToString(), "; report: " + Path.Combine(_dir, "reports", "good.onnx.report.json"));
        StringAssert.StartsWith(stderr.ToString(), bad + ": error CT0102: ");
        Assert.IsTrue(File.Exists(Path.Combine(_dir, "out", "good.onnx")));
        Assert.IsFalse(File.Exists(Path.Combine(_dir, "out", "bad.onnx")));
    }

    // No GPU and no CUDA build of ONNX Runtime here: asking for CUDA runs on CPU, and the build log says so with its own code.
    [TestMethod]
    public void WhenTheRecipeAsksForCudaAndItIsMissing_Run_WarnsCT3021AndTheReportNamesCpu()
    {
        string model = Path.Combine(_dir, "relu.onnx"), recipe = Path.Combine(_dir, "compression.yaml");
        WriteRelu(model);
        File.WriteAllText(recipe, "passes:\n  - eliminate-dead\nverify:\n  execution-provider: cuda\n");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());

        int code = RunCommand.Run([model, "--recipe", recipe, "-o", Path.Combine(_dir, "out", "relu.onnx")], stdout, stderr);

        Assert.AreEqual(0, code, stderr.ToString());
        StringAssert.StartsWith(stderr.ToString(), recipe + ": warning CT3021: execution-provider: cuda was asked for");
        StringAssert.Contains(File.ReadAllText(Path.Combine(_dir, "out", "relu.onnx.report.md")), "execution provider cpu");
    }

    [TestMethod]
    [DataRow("not json", DisplayName = "not JSON")]
    [DataRow("""{"output":"x.onnx"}""", DisplayName = "no model")]
    [DataRow("""["m.onnx"]""", DisplayName = "not an object")]
    public void WhenResponseLineIsInvalid_Run_ReportsCT9001AtThatLine(string line)
    {
        string rsp = Path.Combine(_dir, "jobs.rsp");
        File.WriteAllLines(rsp, ["# first", line]);
        var (stdout, stderr) = (new StringWriter(), new StringWriter());

        int code = RunCommand.Run(["--response", rsp], stdout, stderr);

        Assert.AreEqual(2, code);
        StringAssert.StartsWith(stderr.ToString(), rsp + "(2,1): error CT9001: bad job: ");
    }

    [TestMethod]
    [DataRow(new string[0], "no model given", DisplayName = "nothing")]
    [DataRow(new[] { "m.onnx" }, "no output given", DisplayName = "no output")]
    [DataRow(new[] { "m.onnx", "-o" }, "needs a value", DisplayName = "dangling option")]
    [DataRow(new[] { "m.onnx", "--bogus" }, "unknown option '--bogus'; options:", DisplayName = "unknown option")]
    [DataRow(new[] { "m.onnx", "--response", "r" }, "cannot be combined", DisplayName = "model and response")]
    public void WhenArgumentsAreInvalid_Run_PrintsUsageAndReturns2(string[] args, string message)
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        Assert.AreEqual(2, RunCommand.Run(args, stdout, stderr));
        StringAssert.Contains(stderr.ToString(), "error CT9001: " );
        StringAssert.Contains(stderr.ToString(), message);
        StringAssert.Contains(stderr.ToString(), "usage: compress run");
    }

    [TestMethod]
    public void WhenNoOutputIsGiven_Run_WritesTheRecipesOutputBesideTheModel()
    {
        string model = Path.Combine(_dir, "models", "relu.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(model)!);
        WriteRelu(model);
        string recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, "passes: [eliminate-identity]\noutput: relu-small.onnx\n");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());

        Assert.AreEqual(0, RunCommand.Run([model, "--recipe", recipe], stdout, stderr), stderr.ToString());

        Assert.IsTrue(File.Exists(Path.Combine(_dir, "models", "relu-small.onnx")), stdout.ToString());
        Assert.IsTrue(File.Exists(Path.Combine(_dir, "models", "relu-small.onnx.report.json")));
        // -o still wins.
        Assert.AreEqual(0, RunCommand.Run([model, "--recipe", recipe, "-o", Path.Combine(_dir, "x.onnx")], stdout, stderr), stderr.ToString());
        Assert.IsTrue(File.Exists(Path.Combine(_dir, "x.onnx")));
    }

    [TestMethod]
    public void WhenNoOutputIsGiven_AndTheRecipeIsBroken_Run_ReportsTheRecipeErrors()
    {
        string model = Path.Combine(_dir, "relu.onnx");
        WriteRelu(model);
        string recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, "passes: [fuse-conv-bm]\noutput: ../relu.onnx\n");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());

        Assert.AreEqual(1, RunCommand.Run([model, "--recipe", recipe], stdout, stderr));

        StringAssert.Contains(stderr.ToString(), recipe + "(1,10): error CT1006: ");
        StringAssert.Contains(stderr.ToString(), recipe + "(2,9): error CT1015: ");
    }

    private static string Json(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    private static ValueInfoProto Float(string name) => new()
    {
        Name = name,
        Type = new TypeProto
        {
            TensorType = new TypeProto.Types.Tensor
            {
                ElemType = (int)TensorProto.Types.DataType.Float,
                Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 4 } } },
            },
        },
    };

    private static void WriteRelu(string path)
    {
        var proto = new ModelProto
        {
            IrVersion = 8,
            Graph = new GraphProto
            {
                Name = "g",
                Node = { new NodeProto { OpType = "Relu", Input = { "X" }, Output = { "Y" } } },
                Input = { Float("X") },
                Output = { Float("Y") },
            },
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        using var model = OnnxModel.FromProto(proto);
        model.Save(path);
    }
}
