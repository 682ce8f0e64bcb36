using CompressTasks.Recipe.Presets;

namespace CompressTasks.Recipe.Tests;

[TestClass]
public sealed class RecipeWriterTests
{
    private static readonly RecipeLoader Loader = new(TestCatalog.Instance);

    public const string Full = """
        output: "model small.onnx"
        opset: 17
        runtime: onnxruntime
        inputs:
          input: [1, 3, 224, 224]
          "0": [8]
          "mask:0": [1, 128]
          sr: { values: [8000, 16000] }
          flags: { shape: [1, 3], value: [1, 0, 1] }
          scale: { value: 0.25 }
        calibration: data/calib
        evaluation: data/eval.bin
        labels: labels.txt
        verify:
          min-cosine: 0.99
          max-abs-error: 1e-3
          max-top1-drop: 1.5%
          latency: true
          threads: 3
          optimization: extended
          execution-provider: cuda
        passes:
          - eliminate-identity
          - fuse-conv-bn: { epsilon: 1e-7 }
          - quantize-dynamic:
              weight-type: uint8
              per-channel: false
              exclude-ops: [Conv, "Mat Mul", "true", "a\"b", "", "x,y"]
          - prune-magnitude: { sparsity: 33.3%, min-size: 0, scope: "on" }
          - prune-magnitude: { scope: "a: b # c" }
          - eliminate-dead
        """;

    [TestMethod]
    [DataRow(Full)]
    [DataRow("verify: off\npasses:\n  - eliminate-dead\n")]
    [DataRow("verify: on\npasses:\n  - eliminate-dead\n")]
    [DataRow("extends: optimize\npasses:\n  - eliminate-dead: off\n  - prune-magnitude: { sparsity: 0.125 }\n")]
    [DataRow("passes:\n  - prune-magnitude: { scope: \"\\\\server\\\\share\" }\n")]
    public void WhenPrintedAndReloaded_RecipeIsEqual(string yaml)
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "data", "calib"));
        dir.Write("data/eval.bin", "");
        dir.Write("labels.txt", "");
        var first = Loader.Load(dir.Write("compression.yaml", yaml)).GetRecipeOrThrow();

        var printed = RecipeWriter.Write(first, dir.Path);
        var second = Loader.Load(dir.Write("printed.yaml", printed));

        Assert.IsTrue(second.Succeeded, printed + "\n" + string.Join("\n", second.Errors));
        Assert.AreEqual(first, second.Recipe, printed);
        Assert.AreEqual(printed, RecipeWriter.Write(second.Recipe!, dir.Path), "printing is stable");
    }

    [TestMethod]
    public void WhenPresetPrinted_ItReloadsEqual()
    {
        using var dir = new TempDir();
        // Presets ship against the real registry (the stand-in catalog's passes have other parameters).
        var loader = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog);
        foreach (var name in RecipePresets.Names)
        {
            var preset = loader.Parse(RecipePresets.TryGetText(name)!, Path.Combine(dir.Path, name + ".yaml")).GetRecipeOrThrow();
            var reloaded = loader.Parse(RecipeWriter.Write(preset), Path.Combine(dir.Path, "x.yaml")).GetRecipeOrThrow();
            Assert.AreEqual(preset, reloaded, name);
        }
    }

    [TestMethod]
    public void WhenPrinted_OnlyExplicitParametersAppear_AndExtendsIsFlattened()
    {
        using var dir = new TempDir();
        var recipe = Loader.Parse("extends: optimize\npasses:\n  - prune-magnitude: { min-size: 8 }\n", Path.Combine(dir.Path, "c.yaml")).GetRecipeOrThrow();

        Assert.AreEqual("""
            passes:
              - lift-constants
              - fold-constants
              - fold-reshape-shape
              - eliminate-identity
              - eliminate-dead
              - fuse-reshapes
              - fuse-transposes
              - fuse-conv-bn
              - fuse-conv-mul-add
              - fuse-gemm-bn
              - fuse-matmul-add
              - fuse-layernorm
              - fuse-gelu
              - dedupe-initializers
              - prune-magnitude:
                  min-size: 8

            """.ReplaceLineEndings(), RecipeWriter.Write(recipe));
    }

    [TestMethod]
    [DataRow("plain", "plain")]
    [DataRow("encoder/layer.0", "encoder/layer.0")]
    [DataRow("42", "\"42\"")]
    [DataRow("yes", "\"yes\"")]
    [DataRow("", "\"\"")]
    [DataRow("a b", "\"a b\"")]
    [DataRow("say \"hi\"", "\"say \\\"hi\\\"\"")]
    public void Quote_LeavesSafeWordsPlain_AndQuotesTheRest(string text, string expected) =>
        Assert.AreEqual(expected, RecipeWriter.Quote(text));
}
