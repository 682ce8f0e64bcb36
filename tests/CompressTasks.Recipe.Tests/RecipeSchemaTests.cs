using System.Text.Json.Nodes;
using CompressTasks.Recipe.Presets;

namespace CompressTasks.Recipe.Tests;

[TestClass]
public sealed class RecipeSchemaTests
{
    private static readonly SchemaChecker Checker = new(JsonNode.Parse(RecipeSchema.Generate(TestCatalog.Instance))!.AsObject());

    [TestMethod]
    public void EveryPreset_ConformsToTheSchema()
    {
        // Presets ship against the real registry (the stand-in catalog's passes have other parameters).
        var real = new SchemaChecker(JsonNode.Parse(RecipeSchema.Generate(CompressTasks.Passes.PassRegistry.Catalog))!.AsObject());
        foreach (var name in RecipePresets.Names)
        {
            var errors = real.Check(SchemaChecker.YamlToJson(RecipePresets.TryGetText(name)!));
            Assert.IsEmpty(errors, name + ": " + string.Join("\n", errors));
        }
    }

    [TestMethod]
    [DataRow(RecipeWriterTests.Full)]
    [DataRow("extends: optimize\nverify: off\n")]
    [DataRow("extends: optimize\nverify: { latency: true }\n")]
    [DataRow("extends: optimize\nverify: { threads: 0, optimization: disabled, execution-provider: cpu }\n")]
    [DataRow("extends: ./base.yaml\npasses:\n  - eliminate-dead: off\n  - fuse-conv-bn:\n  - prune-magnitude: { sparsity: 0.5 }\n")]
    [DataRow("passes:\n  - quantize-dynamic: { weight-type: int8, per-channel: true, exclude-ops: [] }\n")]
    [DataRow("extends: int8\noutput: int8/model-small.onnx\n")]
    public void SampleRecipes_ConformToTheSchema(string yaml)
    {
        var errors = Checker.Check(SchemaChecker.YamlToJson(yaml));
        Assert.IsEmpty(errors, string.Join("\n", errors));
    }

    [TestMethod]
    public void PrintedRecipe_ConformsToTheSchema()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "data", "calib"));
        dir.Write("data/eval.bin", "");
        dir.Write("labels.txt", "");
        var recipe = new RecipeLoader(TestCatalog.Instance).Load(dir.Write("compression.yaml", RecipeWriterTests.Full)).GetRecipeOrThrow();

        var errors = Checker.Check(SchemaChecker.YamlToJson(RecipeWriter.Write(recipe, dir.Path)));

        Assert.IsEmpty(errors, string.Join("\n", errors));
    }

    [TestMethod]
    [DataRow("passes:\n  - fuse-conv-bm\n", "$.passes[0]")]
    [DataRow("passes:\n  - fuse-conv-bn: { epsilom: 1 }\n", "$.passes[0]")]
    [DataRow("passes:\n  - quantize-dynamic: { weight-type: int4 }\n", "$.passes[0]")]
    [DataRow("passes:\n  - prune-magnitude: { min-size: many }\n", "$.passes[0]")]
    [DataRow("passes:\n  - prune-magnitude: { sparsity: 2 }\n", "$.passes[0]")]
    [DataRow("passes:\n  - quantize-dynamic:\n    per-channel: true\n", "$.passes[0]")]
    [DataRow("outptu: m.onnx\n", "property 'outptu' is not allowed")]
    [DataRow("opset: 0\n", "$.opset")]
    [DataRow("inputs:\n  x: [1, a]\n", "$.inputs.x")]
    [DataRow("inputs:\n  sr: { value: abc }\n", "$.inputs.sr")]
    [DataRow("inputs:\n  sr: { valeu: 1 }\n", "$.inputs.sr")]
    [DataRow("output: ../model.onnx\n", "$.output")]
    [DataRow("output: /tmp/model.onnx\n", "$.output")]
    [DataRow("output: model.bin\n", "$.output")]
    [DataRow("verify: { min-cosin: 0.9 }\n", "$.verify")]
    [DataRow("verify: { latency: fast }\n", "$.verify")]
    [DataRow("verify: { threads: -1 }\n", "$.verify")]
    [DataRow("verify: { optimization: fast }\n", "$.verify")]
    [DataRow("verify: { execution-provider: tpu }\n", "$.verify")]
    public void InvalidRecipes_AreRejected(string yaml, string where)
    {
        var errors = Checker.Check(SchemaChecker.YamlToJson(yaml));

        Assert.IsTrue(errors.Any(e => e.Contains(where, StringComparison.Ordinal)), string.Join("\n", errors));
    }

    [TestMethod]
    public void Schema_DescribesParametersWithTypesDefaultsAndEnums()
    {
        var schema = JsonNode.Parse(RecipeSchema.Generate(TestCatalog.Instance))!;
        var parameters = schema["definitions"]!["pass-quantize-dynamic"]!["properties"]!["quantize-dynamic"]!["oneOf"]![2]!["properties"]!;

        Assert.AreEqual("""["int8","uint8"]""", parameters["weight-type"]!["enum"]!.ToJsonString());
        Assert.AreEqual("int8", (string)parameters["weight-type"]!["default"]!);
        Assert.AreEqual("boolean", (string)parameters["per-channel"]!["type"]!);
        StringAssert.StartsWith((string)parameters["per-channel"]!["description"]!, "One scale per output channel.");
        Assert.AreEqual("http://json-schema.org/draft-07/schema#", (string)schema["$schema"]!);
    }
}
