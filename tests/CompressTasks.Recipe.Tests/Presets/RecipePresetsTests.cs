using CompressTasks.Recipe.Presets;

namespace CompressTasks.Recipe.Tests.Presets;

[TestClass]
public sealed class RecipePresetsTests
{
    [TestMethod]
    public void Names_ListTheEmbeddedPresets() =>
        CollectionAssert.AreEqual(new[] { "deep-compression", "fp16", "int4", "int8", "int8-static", "optimize", "optimize-ort" }, RecipePresets.Names.ToArray());

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
            new[] { "lift-constants", "fold-constants", "fold-reshape-shape", "eliminate-identity", "eliminate-dead", "fuse-reshapes", "fuse-transposes", "fuse-conv-bn", "fuse-conv-mul-add", "fuse-gemm-bn", "fuse-matmul-add", "fuse-layernorm", "fuse-gelu", "dedupe-initializers" },
            recipe.Passes.Select(p => p.Name).ToArray());
    }

    [TestMethod]
    public void Int8_IsOptimizeThenWeightQuantization()
    {
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse("extends: int8\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            new[] { "lift-constants", "fold-constants", "fold-reshape-shape", "eliminate-identity", "eliminate-dead", "fuse-reshapes", "fuse-transposes", "fuse-conv-bn", "fuse-conv-mul-add", "fuse-gemm-bn", "fuse-matmul-add", "fuse-layernorm", "fuse-gelu", "dedupe-initializers", "quantize-weights-int8" },
            recipe.Passes.Select(p => p.Name).ToArray());
    }

    // The optimize preset's pass names, so presets built on it are checked against it rather than a copy of its list.
    private static string[] OptimizePasses() =>
        [.. new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog).Parse("extends: optimize\n", Path.Combine(Path.GetTempPath(), "compression.yaml"))
            .GetRecipeOrThrow().Passes.Select(p => p.Name)];

    [TestMethod]
    public void Fp16_IsOptimizeThenFloat16Conversion()
    {
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse("extends: fp16\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            (string[])[.. OptimizePasses(), "convert-fp16"],
            recipe.Passes.Select(p => p.Name).ToArray());
    }

    [TestMethod]
    public void WhenInt8IsExtendedWithConvertOpset_TheUpgradeRunsBeforeQuantization()
    {
        // extends appends new entries: switching the base's quantization off and listing it again puts it last.
        const string Yaml = "extends: int8\npasses:\n  - quantize-weights-int8: off\n  - convert-opset: { target-opset: 13 }\n  - quantize-weights-int8\n";
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse(Yaml, Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            (string[])[.. OptimizePasses(), "convert-opset", "quantize-weights-int8"],
            recipe.Passes.Select(p => p.Name).ToArray());
    }

    [TestMethod]
    public void Int4_IsOptimizeThenBlockWise4BitWeights()
    {
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse("extends: int4\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            (string[])[.. OptimizePasses(), "quantize-int4"],
            recipe.Passes.Select(p => p.Name).ToArray());
        var int4 = recipe.Passes[^1].Arguments;
        Assert.AreEqual(("matmul-nbits", 32, true), (int4.GetString("format"), int4.GetInt("block-size"), int4.GetBool("symmetric")));
    }

    [TestMethod]
    public void Int8Static_IsOptimizeThenStaticQuantizationWithTheExtendingRecipesCalibrationData()
    {
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), $"ct-preset-{Guid.NewGuid():N}")).FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "calib.npy"), "");
            var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
                .Parse("extends: int8-static\ncalibration: calib.npy\npasses:\n  - quantize-static: { method: entropy }\n", Path.Combine(dir, "compression.yaml"))
                .GetRecipeOrThrow();

            var optimize = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
                .Parse("extends: optimize\n", Path.Combine(dir, "optimize.yaml")).GetRecipeOrThrow();
            CollectionAssert.AreEqual(
                optimize.Passes.Select(p => p.Name).Append("quantize-static").ToArray(),
                recipe.Passes.Select(p => p.Name).ToArray());
            Assert.AreEqual("entropy", recipe.Passes[^1].Arguments.GetString("method"), "the child's entry replaces the preset's");
            Assert.AreEqual(Path.Combine(dir, "calib.npy"), recipe.Calibration!.FullPath);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [TestMethod]
    public void DeepCompression_IsOptimizeThenMagnitudePruningThenInt8()
    {
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse("extends: deep-compression\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            (string[])[.. OptimizePasses(), "prune-magnitude", "quantize-weights-int8"],
            recipe.Passes.Select(p => p.Name).ToArray());
        var prune = recipe.Passes[^2].Arguments;
        Assert.AreEqual((0.5, "global", "dense", true), (prune.GetDouble("sparsity"), prune.GetString("scope"), prune.GetString("storage"), prune.GetBool("keep-last")));
    }

    [TestMethod]
    public void OptimizeOrt_IsOptimizeWithTheComMicrosoftFusionsAsked()
    {
        var recipe = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog)
            .Parse("extends: optimize-ort\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            (string[])[.. OptimizePasses(), "fuse-skip-layernorm", "fuse-conv-activation", "fuse-attention"],
            recipe.Passes.Select(p => p.Name).ToArray());
        foreach (var name in new[] { "fuse-layernorm", "fuse-gelu", "fuse-skip-layernorm", "fuse-conv-activation", "fuse-attention" })
            Assert.AreEqual("com.microsoft", recipe.Passes.Single(p => p.Name == name).Arguments.GetString("domain"), name);
    }

    [TestMethod]
    public void WhenCatalogLacksAPresetPass_ErrorPointsIntoThePreset()
    {
        var catalog = new CompressTasks.Passes.Infrastructure.PassCatalog(TestCatalog.Instance.Passes.Where(p => p.Name != "fuse-matmul-add"));
        var result = new RecipeLoader(catalog).Parse("extends: optimize\n", Path.Combine(Path.GetTempPath(), "compression.yaml"));

        var error = result.Errors.Single();
        int line = Array.FindIndex(RecipePresets.TryGetText("optimize")!.Split('\n'), l => l.Trim() == "- fuse-matmul-add") + 1;
        Assert.IsTrue(line > 0);
        Assert.AreEqual((CompressTasks.Diagnostics.DiagnosticCodes.RecipeUnknownPass, "preset:optimize", line, 5), (error.Code, error.File, error.Line, error.Column));
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
