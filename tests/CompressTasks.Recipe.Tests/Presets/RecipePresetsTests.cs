using CompressTasks.Recipe.Presets;

namespace CompressTasks.Recipe.Tests.Presets;

[TestClass]
public sealed class RecipePresetsTests
{
    [TestMethod]
    public void Names_ListTheEmbeddedPresets() =>
        CollectionAssert.AreEqual(new[] { "deep-compression", "int8", "optimize" }, RecipePresets.Names.ToArray());

    [TestMethod]
    public void EveryPreset_LoadsAgainstTheRealPassRegistry()
    {
        // Presets ship to users: they must name passes that exist, not only the test stand-ins.
        var loader = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog);
        foreach (var name in RecipePresets.Names)
        {
            var result = loader.Parse(RecipePresets.TryGetText(name)!, Path.Combine(Path.GetTempPath(), name + ".yaml"));
            Assert.IsTrue(result.Succeeded, name + ": " + string.Join("\n", result.Errors));
        }
    }

    [TestMethod]
    public void Optimize_RunsTheLosslessCleanupsInOrder()
    {
        var recipe = new RecipeLoader(TestCatalog.Instance).Parse(RecipePresets.TryGetText("optimize")!, "optimize.yaml").GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            new[] { "lift-constants", "fold-constants", "eliminate-identity", "eliminate-dead", "fuse-conv-bn", "fuse-matmul-add", "dedupe-initializers" },
            recipe.Passes.Select(p => p.Name).ToArray());
    }

    [TestMethod]
    public void Int8_IsOptimizeThenWeightQuantization()
    {
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse("extends: int8\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            new[] { "lift-constants", "fold-constants", "eliminate-identity", "eliminate-dead", "fuse-conv-bn", "fuse-matmul-add", "dedupe-initializers", "quantize-weights-int8" },
            recipe.Passes.Select(p => p.Name).ToArray());
    }

    [TestMethod]
    public void DeepCompression_IsOptimizeThenMagnitudePruningThenInt8()
    {
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse("extends: deep-compression\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            new[] { "lift-constants", "fold-constants", "eliminate-identity", "eliminate-dead", "fuse-conv-bn", "fuse-matmul-add", "dedupe-initializers", "prune-magnitude", "quantize-weights-int8" },
            recipe.Passes.Select(p => p.Name).ToArray());
        var prune = recipe.Passes[^2].Arguments;
        Assert.AreEqual((0.5, "global", "dense", true), (prune.GetDouble("sparsity"), prune.GetString("scope"), prune.GetString("storage"), prune.GetBool("keep-last")));
    }

    [TestMethod]
    public void WhenCatalogLacksAPresetPass_ErrorPointsIntoThePreset()
    {
        var catalog = new CompressTasks.Passes.Infrastructure.PassCatalog(TestCatalog.Instance.Passes.Where(p => p.Name != "fuse-matmul-add"));
        var result = new RecipeLoader(catalog).Parse("extends: optimize\n", Path.Combine(Path.GetTempPath(), "compression.yaml"));

        var error = result.Errors.Single();
        Assert.AreEqual((CompressTasks.Diagnostics.DiagnosticCodes.RecipeUnknownPass, "preset:optimize", 8, 5), (error.Code, error.File, error.Line, error.Column));
    }

    [TestMethod]
    public void TryGetText_WhenUnknown_ReturnsNull() => Assert.IsNull(RecipePresets.TryGetText("nope"));

    [TestMethod]
    [DataRow("optimize", true)]
    [DataRow("./base.yaml", false)]
    [DataRow("base.yml", false)]
    [DataRow("shared\\base", false)]
    public void IsPresetReference_TellsPresetsFromFiles(string extends, bool preset) =>
        Assert.AreEqual(preset, RecipePresets.IsPresetReference(extends));
}
