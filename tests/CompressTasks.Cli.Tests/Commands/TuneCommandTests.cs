using CompressTasks.Cli.Commands;
using CompressTasks.TestSupport;

namespace CompressTasks.Cli.Tests.Commands;

/// <summary><c>compress tune</c> and <c>compress sensitivity</c> on mnist-mlp: arguments, the table, the written recipe.</summary>
[TestClass]
public sealed class TuneCommandTests
{
    private string _dir = "";

    [TestInitialize]
    public void Init() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "ct-tune-cli-" + Guid.NewGuid().ToString("N")[..8]));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private string Recipe()
    {
        var path = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(path, "verify:\n  min-cosine: 0.9999\npasses:\n  - fuse-matmul-add\nauto:\n  candidates:\n    - quantize-weights-int8\n");
        return path;
    }

    [TestMethod]
    public void WhenTuneRuns_ItPrintsTheTableAndWritesARecipeTheRunCommandAccepts()
    {
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var tuned = Path.Combine(_dir, "tuned.yaml");
        var (stdout, stderr) = (new StringWriter(), new StringWriter());

        Assert.AreEqual(0, TuneCommand.Run([model, "--recipe", Recipe(), "-o", tuned, "--min-cosine", "0.9999"], stdout, stderr), stderr.ToString());

        var text = stdout.ToString();
        Console.WriteLine(text);
        foreach (var layer in new[] { "fc1.weight", "fc2.weight", "fc3.weight" }) StringAssert.Contains(text, layer);
        StringAssert.Contains(text, "recipe: " + tuned);
        Assert.AreEqual(0, RunCommand.Run([model, "--recipe", tuned, "-o", Path.Combine(_dir, "out.onnx")], new StringWriter(), stderr), stderr.ToString());
    }

    [TestMethod]
    public void WhenSensitivityRuns_EveryLayerHasARow()
    {
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        Assert.AreEqual(0, SensitivityCommand.Run([TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx"), "--recipe", Recipe()], stdout, stderr), stderr.ToString());
        var rows = stdout.ToString().Split('\n').Where(l => l.StartsWith("fc", StringComparison.Ordinal)).ToArray();
        Assert.HasCount(3, rows, stdout.ToString());
    }

    [TestMethod]
    [DataRow(new[] { "m.onnx" })]
    [DataRow(new[] { "m.onnx", "--recipe", "r.yaml", "--objective", "smallest" })]
    [DataRow(new[] { "m.onnx", "--recipe", "r.yaml", "--min-cosine", "2" })]
    [DataRow(new[] { "m.onnx", "--recipe", "r.yaml", "--frobnicate" })]
    public void WhenArgumentsAreWrong_Usage(string[] args)
    {
        var stderr = new StringWriter();
        Assert.AreEqual(2, TuneCommand.Run(args, new StringWriter(), stderr));
        StringAssert.Contains(stderr.ToString(), "usage: compress tune");
    }
}
