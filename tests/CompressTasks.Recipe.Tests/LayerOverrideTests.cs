using CompressTasks.Diagnostics;

namespace CompressTasks.Recipe.Tests;

[TestClass]
public sealed class LayerOverrideTests
{
    private static readonly RecipeLoader Loader = new(TestCatalog.Instance);

    private const string Layered = """
        passes:
          - quantize-layered:
              min-elements: 64
              exclude: ["stem*"]
              layers:
                "fc1*": skip
                fc3: { per-channel: false }
                "*": { min-elements: 8 }
        """;

    [TestMethod]
    public void WhenLayersAreGiven_EachOverrideKeepsItsPatternPositionAndMergedParameters()
    {
        using var dir = new TempDir();
        var recipe = Loader.Load(dir.Write("compression.yaml", Layered)).GetRecipeOrThrow();
        var layers = recipe.Passes.Single().Layers;

        CollectionAssert.AreEqual(new[] { "fc1*", "fc3", "*" }, layers.Select(l => l.Pattern).ToArray());
        Assert.IsTrue(layers[0].Skip);
        Assert.AreEqual((6, 9), (layers[0].Line, layers[0].Column));
        Assert.IsFalse(layers[1].Arguments!.GetBool("per-channel"));
        Assert.AreEqual(64, layers[1].Arguments!.GetInt("min-elements"), "an override starts from the entry's own values");
        Assert.AreEqual(8, layers[2].Arguments!.GetInt("min-elements"));
        Assert.IsEmpty(layers[2].Arguments!.GetStringList("exclude"), "selection parameters are not inherited");
    }

    [TestMethod]
    public void WhenAnEntryHasLayers_ItRunsOncePerOverrideThenOnTheRest_AndEarlierPatternsWin()
    {
        using var dir = new TempDir();
        var runs = Loader.Load(dir.Write("compression.yaml", Layered)).GetRecipeOrThrow().Passes.Single().Runs();

        Assert.HasCount(3, runs, "fc3, *, then the entry itself; the skip adds no run");
        CollectionAssert.AreEqual(new[] { "fc3" }, runs[0].GetStringList("include").ToArray());
        CollectionAssert.AreEqual(new[] { "fc1*" }, runs[0].GetStringList("exclude").ToArray());
        Assert.IsFalse(runs[0].GetBool("per-channel"));
        CollectionAssert.AreEqual(new[] { "*" }, runs[1].GetStringList("include").ToArray());
        CollectionAssert.AreEqual(new[] { "fc1*", "fc3" }, runs[1].GetStringList("exclude").ToArray());
        Assert.AreEqual(8, runs[1].GetInt("min-elements"));
        Assert.IsEmpty(runs[2].GetStringList("include"));
        CollectionAssert.AreEqual(new[] { "stem*", "fc1*", "fc3", "*" }, runs[2].GetStringList("exclude").ToArray());
        Assert.IsTrue(runs[2].GetBool("per-channel"));
    }

    [TestMethod]
    public void WhenARecipeWithLayersIsPrinted_LoadingItGivesAnEqualRecipe()
    {
        using var dir = new TempDir();
        var recipe = Loader.Load(dir.Write("compression.yaml", Layered)).GetRecipeOrThrow();
        var text = RecipeWriter.Write(recipe);
        var again = Loader.Load(dir.Write("printed.yaml", text)).GetRecipeOrThrow();
        Assert.AreEqual(recipe, again, text);
        StringAssert.Contains(text, "\"fc1*\": skip");
    }

    [TestMethod]
    [DataRow("passes:\n  - fuse-conv-bn:\n      layers: { conv1: skip }\n", DiagnosticCodes.RecipeUnknownParameter, 3, 7)]
    [DataRow("passes:\n  - quantize-layered:\n      layers: [fc1]\n", DiagnosticCodes.RecipeWrongType, 3, 15)]
    [DataRow("passes:\n  - quantize-layered:\n      layers:\n        fc1: keep\n", DiagnosticCodes.RecipeWrongType, 4, 14)]
    [DataRow("passes:\n  - quantize-layered:\n      layers:\n        fc1: { per-chanel: false }\n", DiagnosticCodes.RecipeUnknownParameter, 4, 16)]
    [DataRow("passes:\n  - quantize-layered:\n      layers:\n        fc1: { include: [fc2] }\n", DiagnosticCodes.RecipeInvalidStructure, 4, 16)]
    [DataRow("passes:\n  - quantize-layered:\n      layers:\n        fc1: { min-elements: 0 }\n", DiagnosticCodes.RecipeValueOutOfRange, 4, 30)]
    public void WhenLayersAreWrong_ReportsCodeAndPosition(string yaml, string code, int line, int column)
    {
        using var dir = new TempDir();
        var result = Loader.Load(dir.Write("compression.yaml", yaml));

        Assert.IsNull(result.Recipe);
        Assert.HasCount(1, result.Errors, string.Join("\n", result.Errors));
        Assert.AreEqual(code, result.Errors[0].Code, result.Errors[0].ToString());
        Assert.AreEqual((line, column), (result.Errors[0].Line, result.Errors[0].Column), result.Errors[0].ToString());
    }
}
