namespace CompressTasks.Build.Tests;

/// <summary>
/// The task's line read of <c>output:</c> (it plans paths before the tool parses the recipe; the tool fails with
/// CT1016 when they disagree, which CompressorTests covers).
/// </summary>
[TestClass]
public sealed class RecipeOutputTests
{
    private string _dir = "";

    [TestInitialize]
    public void Init() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), "ct-output-" + Guid.NewGuid().ToString("N")[..8]));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    [DataRow("output: small.onnx\npasses: [eliminate-dead]\n", "small.onnx", DisplayName = "plain")]
    [DataRow("passes:\n  - eliminate-dead\noutput: 'int8/small.onnx'   # renamed\n", "int8/small.onnx", DisplayName = "quoted, commented, a folder")]
    [DataRow("output: \"a b.onnx\"\n", "a b.onnx", DisplayName = "double-quoted with a space")]
    [DataRow("output: small.onnx # the name\n", "small.onnx", DisplayName = "comment")]
    [DataRow("passes:\n  - eliminate-dead\n", "", DisplayName = "none")]
    [DataRow("passes:\n  - prune-magnitude:\n      output: x.onnx\n", "", DisplayName = "indented is no top-level key")]
    [DataRow("output: ../escape.onnx\n", "", DisplayName = "leaves the output: unusable (the tool reports CT1015)")]
    [DataRow("output: model.bin\n", "", DisplayName = "not .onnx")]
    [DataRow("output: ~\n", "", DisplayName = "null")]
    [DataRow("extends: optimize\n", "", DisplayName = "a preset has none")]
    public void Read_TakesTheTopLevelOutputLine(string yaml, string expected)
    {
        string recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, yaml);
        Assert.AreEqual(expected, RecipeOutput.Read(recipe));
    }

    [TestMethod]
    public void Read_FollowsExtendsFiles_TheNearestOutputWins_AndStopsAtACycle()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "shared"));
        File.WriteAllText(Path.Combine(_dir, "shared", "base.yaml"), "extends: int8\noutput: base.onnx\n");
        File.WriteAllText(Path.Combine(_dir, "mid.yaml"), "extends: shared/base.yaml\n");
        File.WriteAllText(Path.Combine(_dir, "compression.yaml"), "extends: ./mid.yaml\n");
        Assert.AreEqual("base.onnx", RecipeOutput.Read(Path.Combine(_dir, "compression.yaml")));

        File.WriteAllText(Path.Combine(_dir, "mid.yaml"), "extends: shared/base.yaml\noutput: mid.onnx\n");
        Assert.AreEqual("mid.onnx", RecipeOutput.Read(Path.Combine(_dir, "compression.yaml")));

        File.WriteAllText(Path.Combine(_dir, "a.yaml"), "extends: ./b.yaml\n");
        File.WriteAllText(Path.Combine(_dir, "b.yaml"), "extends: ./a.yaml\n");
        Assert.AreEqual("", RecipeOutput.Read(Path.Combine(_dir, "a.yaml")));
    }
}
