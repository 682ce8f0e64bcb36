using CompressTasks.Diagnostics;

namespace CompressTasks.Recipe.Tests;

[TestClass]
public sealed class AutoSettingsTests
{
    private static readonly RecipeLoader Loader = new(TestCatalog.Instance);

    private const string Auto = """
        extends: optimize
        auto:
          objective: latency
          candidates:
            - quantize-layered
            - quantize-layered: { per-channel: false, min-elements: 4 }
            - [quantize-layered, { quantize-layered: { per-channel: false, layers: { "fc*": skip } } }]
            - - quantize-layered: { min-elements: 8 }
              - quantize-layered
        """;

    [TestMethod]
    public void WhenAutoIsGiven_ItsObjectiveAndCandidatesAreRead_AndPrintingRoundTrips()
    {
        using var dir = new TempDir();
        var recipe = Loader.Load(dir.Write("compression.yaml", Auto)).GetRecipeOrThrow();

        Assert.AreEqual("latency", recipe.Auto!.Objective);
        Assert.HasCount(4, recipe.Auto.Candidates);
        Assert.IsFalse(recipe.Auto.Candidates[1].Steps[0].Arguments.GetBool("per-channel"));
        // A list is one treatment made of several passes, in order; flow and block lists read the same.
        Assert.IsFalse(recipe.Auto.Candidates[1].IsCombined);
        Assert.HasCount(2, recipe.Auto.Candidates[2].Steps);
        Assert.IsFalse(recipe.Auto.Candidates[2].Steps[1].Arguments.GetBool("per-channel"));
        Assert.AreEqual("fc*", recipe.Auto.Candidates[2].Steps[1].Layers.Single().Pattern);
        Assert.AreEqual(8, recipe.Auto.Candidates[3].Steps[0].Arguments.GetInt("min-elements"));
        Assert.AreEqual((9, 9), (recipe.Auto.Candidates[3].Steps[1].Line, recipe.Auto.Candidates[3].Steps[1].Column), "each pass keeps its position");
        Assert.AreEqual((3, 3), (recipe.Auto.Line, recipe.Auto.Column), "where the auto: mapping starts");
        var printed = RecipeWriter.Write(recipe);
        var again = Loader.Load(dir.Write("printed.yaml", printed)).GetRecipeOrThrow();
        Assert.AreEqual(recipe, again, printed);
        Assert.AreNotEqual(recipe, Loader.Load(dir.Write("swapped.yaml", printed.Replace("[quantize-layered, ", "[", StringComparison.Ordinal))).GetRecipeOrThrow(),
            "a sequence's passes take part in equality");
    }

    [TestMethod]
    public void WhenAChildRecipeHasNoAuto_TheBasesIsKept()
    {
        using var dir = new TempDir();
        dir.Write("base.yaml", Auto);
        var recipe = Loader.Load(dir.Write("compression.yaml", "extends: ./base.yaml\npasses:\n  - eliminate-dead\n")).GetRecipeOrThrow();
        Assert.AreEqual("latency", recipe.Auto?.Objective);
    }

    [TestMethod]
    [DataRow("auto: size\n", DiagnosticCodes.RecipeWrongType, 1, 7)]
    [DataRow("auto:\n  objective: smallest\n  candidates: [quantize-layered]\n", DiagnosticCodes.RecipeInvalidEnumValue, 2, 14)]
    [DataRow("auto:\n  candidates: [fuse-conv-bn]\n", DiagnosticCodes.RecipeInvalidStructure, 2, 16)]
    [DataRow("auto:\n  candidates: [quantize-layred]\n", DiagnosticCodes.RecipeUnknownPass, 2, 16)]
    [DataRow("auto:\n  candidates: quantize-layered\n", DiagnosticCodes.RecipeWrongType, 2, 15)]
    [DataRow("auto:\n  objective: size\n", DiagnosticCodes.RecipeInvalidStructure, 2, 3)]
    [DataRow("auto:\n  budget: 1%\n  candidates: [quantize-layered]\n", DiagnosticCodes.RecipeUnknownKey, 2, 3)]
    // Combined candidates: each pass is checked where it is written.
    [DataRow("auto:\n  candidates:\n    - [quantize-layered, fuse-conv-bn]\n", DiagnosticCodes.RecipeInvalidStructure, 3, 26)]
    [DataRow("auto:\n  candidates:\n    - [quantize-layered, quantize-layred]\n", DiagnosticCodes.RecipeUnknownPass, 3, 26)]
    [DataRow("auto:\n  candidates:\n    - []\n", DiagnosticCodes.RecipeInvalidStructure, 3, 7)]
    [DataRow("auto:\n  candidates:\n    - [quantize-layered, [quantize-layered]]\n", DiagnosticCodes.RecipeWrongType, 3, 26)]
    [DataRow("auto:\n  candidates:\n    - - quantize-layered\n      - quantize-layered: { per-chanel: true }\n", DiagnosticCodes.RecipeUnknownParameter, 4, 29)]
    public void WhenAutoIsWrong_ReportsCodeAndPosition(string yaml, string code, int line, int column)
    {
        using var dir = new TempDir();
        var result = Loader.Load(dir.Write("compression.yaml", "passes:\n  - eliminate-dead\n" + yaml));

        Assert.IsNull(result.Recipe);
        Assert.HasCount(1, result.Errors, string.Join("\n", result.Errors));
        Assert.AreEqual(code, result.Errors[0].Code, result.Errors[0].ToString());
        Assert.AreEqual((line + 2, column), (result.Errors[0].Line, result.Errors[0].Column), result.Errors[0].ToString());
    }
}
