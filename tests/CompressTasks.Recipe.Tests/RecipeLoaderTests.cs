using CompressTasks.Diagnostics;

namespace CompressTasks.Recipe.Tests;

[TestClass]
public sealed class RecipeLoaderTests
{
    private static readonly RecipeLoader Loader = new(TestCatalog.Instance);

    private static RecipeLoadResult Load(TempDir dir, string yaml, string name = "compression.yaml") =>
        Loader.Load(dir.Write(name, yaml));

    [TestMethod]
    // Malformed YAML: the parser's own position.
    [DataRow("passes: [eliminate-dead\n", DiagnosticCodes.RecipeMalformedYaml, 2, 1)]
    [DataRow("passes:\n  - eliminate-dead\n - fuse-conv-bn\n", DiagnosticCodes.RecipeMalformedYaml, 3, 2)]
    // Empty.
    [DataRow("", DiagnosticCodes.RecipeEmpty, 1, 1)]
    [DataRow("# nothing yet\n", DiagnosticCodes.RecipeEmpty, 1, 1)]
    [DataRow("passes: []\n", DiagnosticCodes.RecipeEmpty, 1, 1)]
    // Unknown keys.
    [DataRow("outptu: m.onnx\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeUnknownKey, 1, 1)]
    [DataRow("passes:\n  - eliminate-dead\nverify:\n  min-cosin: 0.9\n", DiagnosticCodes.RecipeUnknownKey, 4, 3)]
    // Wrong shape.
    [DataRow("- eliminate-dead\n", DiagnosticCodes.RecipeInvalidStructure, 1, 1)]
    [DataRow("passes:\n  - quantize-dynamic:\n    per-channel: true\n", DiagnosticCodes.RecipeInvalidStructure, 3, 5)]
    // YAML itself forbids repeated keys, so YamlDotNet reports them.
    [DataRow("passes:\n  - eliminate-dead\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeMalformedYaml, 3, 1)]
    [DataRow("passes:\n  - prune-magnitude:\n      sparsity: 0.1\n      sparsity: 0.2\n", DiagnosticCodes.RecipeMalformedYaml, 4, 7)]
    // Unknown pass and parameter.
    [DataRow("passes:\n  - fuse-conv-bm\n", DiagnosticCodes.RecipeUnknownPass, 2, 5)]
    [DataRow("passes:\n  - eliminate-dead\n  - quantise-dynamic:\n      per-channel: true\n", DiagnosticCodes.RecipeUnknownPass, 3, 5)]
    [DataRow("passes:\n  - fuse-conv-bn:\n      epsilom: 0.1\n", DiagnosticCodes.RecipeUnknownParameter, 3, 7)]
    [DataRow("passes:\n  - eliminate-dead:\n      aggressive: true\n", DiagnosticCodes.RecipeUnknownParameter, 3, 7)]
    // Wrong type.
    [DataRow("passes:\n  - quantize-dynamic:\n      per-channel: maybe\n", DiagnosticCodes.RecipeWrongType, 3, 20)]
    [DataRow("passes:\n  - quantize-dynamic:\n      exclude-ops: Conv\n", DiagnosticCodes.RecipeWrongType, 3, 20)]
    [DataRow("verify:\n  latency: fast\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 12)]
    [DataRow("verify:\n  threads: many\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 12)]
    [DataRow("verify:\n  threads: [2]\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 12)]
    [DataRow("verify:\n  optimization: fast\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeInvalidEnumValue, 2, 17)]
    [DataRow("verify:\n  execution-provider: tpu\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeInvalidEnumValue, 2, 23)]
    [DataRow("passes:\n  - prune-magnitude:\n      min-size: 1.5\n", DiagnosticCodes.RecipeWrongType, 3, 17)]
    [DataRow("passes:\n  - prune-magnitude:\n      sparsity: half\n", DiagnosticCodes.RecipeWrongType, 3, 17)]
    [DataRow("passes:\n  - fuse-conv-bn: 3\n", DiagnosticCodes.RecipeWrongType, 2, 19)]
    [DataRow("opset: seventeen\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 1, 8)]
    [DataRow("inputs:\n  x: 224\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 6)]
    [DataRow("passes: eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 1, 9)]
    [DataRow("verify: maybe\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 1, 9)]
    // Out of range.
    [DataRow("passes:\n  - prune-magnitude:\n      sparsity: 150%\n", DiagnosticCodes.RecipeValueOutOfRange, 3, 17)]
    [DataRow("passes:\n  - prune-magnitude:\n      sparsity: 1.5\n", DiagnosticCodes.RecipeValueOutOfRange, 3, 17)]
    [DataRow("passes:\n  - prune-magnitude:\n      min-size: -1\n", DiagnosticCodes.RecipeValueOutOfRange, 3, 17)]
    [DataRow("passes:\n  - fuse-conv-bn: { epsilon: -0.5 }\n", DiagnosticCodes.RecipeValueOutOfRange, 2, 30)]
    [DataRow("opset: 0\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeValueOutOfRange, 1, 8)]
    [DataRow("inputs:\n  x: [1, 0]\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeValueOutOfRange, 2, 10)]
    [DataRow("verify:\n  max-top1-drop: 101%\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeValueOutOfRange, 2, 18)]
    // Enum.
    [DataRow("passes:\n  - quantize-dynamic:\n      weight-type: int4\n", DiagnosticCodes.RecipeInvalidEnumValue, 3, 20)]
    [DataRow("runtime: tensorrt\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeInvalidEnumValue, 1, 10)]
    // Pinned input values.
    [DataRow("inputs:\n  sr: { value: abc }\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 16)]
    [DataRow("inputs:\n  sr: { value: 1, values: [2] }\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeInvalidStructure, 2, 27)]
    [DataRow("inputs:\n  sr: { valeu: 1 }\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeUnknownKey, 2, 9)]
    [DataRow("inputs:\n  sr: { values: 8000 }\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 17)]
    [DataRow("inputs:\n  sr: { values: [8000, [1, [2]]] }\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 28)]
    [DataRow("inputs:\n  sr: { value: [] }\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 16)]
    [DataRow("inputs:\n  sr: {}\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeInvalidStructure, 2, 7)]
    [DataRow("inputs:\n  sr: { shape: 3, value: 1 }\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 2, 16)]
    // Data.
    [DataRow("calibration: data/missing\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeDataNotFound, 1, 14)]
    [DataRow("passes:\n  - eliminate-dead\nlabels: labels.txt\n", DiagnosticCodes.RecipeDataNotFound, 3, 9)]
    // Extends.
    [DataRow("extends: optimise\n", DiagnosticCodes.RecipeExtendsNotFound, 1, 10)]
    [DataRow("extends: ./base.yaml\n", DiagnosticCodes.RecipeExtendsNotFound, 1, 10)]
    [DataRow("extends: ./compression.yaml\n", DiagnosticCodes.RecipeExtendsCycle, 1, 10)]
    // Output: a relative .onnx path that stays where the model goes.
    [DataRow("output: model.bin\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeOutputInvalid, 1, 9)]
    [DataRow("passes:\n  - eliminate-dead\noutput: ../model.onnx\n", DiagnosticCodes.RecipeOutputInvalid, 3, 9)]
    [DataRow("output: sub/../../model.onnx\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeOutputInvalid, 1, 9)]
    [DataRow("output: /tmp/model.onnx\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeOutputInvalid, 1, 9)]
    [DataRow("output: 'C:\\out\\model.onnx'\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeOutputInvalid, 1, 9)]
    [DataRow("output: ./model.onnx\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeOutputInvalid, 1, 9)]
    [DataRow("output: [a.onnx]\npasses:\n  - eliminate-dead\n", DiagnosticCodes.RecipeWrongType, 1, 9)]
    public void WhenRecipeInvalid_ReportsCodeAndPosition(string yaml, string code, int line, int column)
    {
        using var dir = new TempDir();
        var result = Load(dir, yaml);

        Assert.IsNull(result.Recipe);
        Assert.HasCount(1, result.Errors, string.Join("\n", result.Errors));
        var error = result.Errors[0];
        Assert.AreEqual(code, error.Code, error.ToString());
        Assert.AreEqual(Path.Combine(dir.Path, "compression.yaml"), error.File);
        Assert.AreEqual((line, column), (error.Line, error.Column), error.ToString());
    }

    // Against the real registry (the stand-in catalog has no quantize-embeddings): its enum and its unknown keys get
    // the generic per-pass diagnostics, with the values it accepts.
    [TestMethod]
    [DataRow("passes:\n  - quantize-embeddings: { format: nope }\n", DiagnosticCodes.RecipeInvalidEnumValue, 2, 36, "Allowed values: gather, gather-block-quantized.")]
    [DataRow("passes:\n  - quantize-embeddings: { op-types: [Gather] }\n", DiagnosticCodes.RecipeUnknownParameter, 2, 28, "Parameters of 'quantize-embeddings': format, bits,")]
    [DataRow("passes:\n  - quantize-embeddings: { bits: 9 }\n", DiagnosticCodes.RecipeValueOutOfRange, 2, 34, "between 0 and 8")]
    public void WhenQuantizeEmbeddingsIsMisconfigured_TheRealRegistryReportsCodePositionAndValidValues(string yaml, string code, int line, int column, string list)
    {
        using var dir = new TempDir();
        var result = new RecipeLoader(CompressTasks.Passes.PassRegistry.Catalog).Load(dir.Write("compression.yaml", yaml));

        var error = result.Errors.Single();
        Assert.AreEqual((code, line, column), (error.Code, error.Line, error.Column), error.ToString());
        StringAssert.Contains(error.Message, list);
    }

    [TestMethod]
    [DataRow("passes:\n  - fuse-conv-bm\n", "Did you mean 'fuse-conv-bn'?", "Valid passes: eliminate-identity, eliminate-dead, fuse-conv-bn,")]
    [DataRow("passes:\n  - fuse-conv-bn:\n      epsilom: 0.1\n", "Did you mean 'epsilon'?", "Parameters of 'fuse-conv-bn': epsilon.")]
    [DataRow("passes:\n  - quantize-dynamic:\n      weight-type: unit8\n", "Did you mean 'uint8'?", "Allowed values: int8, uint8.")]
    [DataRow("outptu: m.onnx\npasses:\n  - eliminate-dead\n", "Did you mean 'output'?", "Valid keys: extends, output,")]
    [DataRow("extends: optimise\n", "Did you mean 'optimize'?", "Presets: deep-compression, fp16, int4, int8, int8-static, optimize, optimize-ort")]
    public void WhenNameUnknown_MessageSuggestsClosestAndListsValid(string yaml, string suggestion, string list)
    {
        using var dir = new TempDir();
        var message = Load(dir, yaml).Errors.Single().Message;

        StringAssert.Contains(message, suggestion);
        StringAssert.Contains(message, list);
    }

    [TestMethod]
    public void WhenSeveralErrors_ReportsAllInDocumentOrder()
    {
        using var dir = new TempDir();
        var result = Load(dir, "opset: x\npasses:\n  - fuse-conv-bm\n  - prune-magnitude: { sparsity: 2 }\nfoo: 1\n");

        CollectionAssert.AreEqual(
            new[] { DiagnosticCodes.RecipeWrongType, DiagnosticCodes.RecipeUnknownPass, DiagnosticCodes.RecipeValueOutOfRange, DiagnosticCodes.RecipeUnknownKey },
            result.Errors.Select(e => e.Code).ToArray());
        var aggregate = Assert.ThrowsExactly<AggregateException>(result.ThrowIfErrors);
        Assert.HasCount(4, aggregate.InnerExceptions);
        StringAssert.Contains(aggregate.Message, "(3,5): error CT1006:");
    }

    [TestMethod]
    public void WhenOneError_ThrowIfErrorsThrowsIt()
    {
        using var dir = new TempDir();
        var result = Load(dir, "passes:\n  - nope\n");

        var error = Assert.ThrowsExactly<CompressTasksException>(() => result.GetRecipeOrThrow());
        Assert.AreEqual(DiagnosticCodes.RecipeUnknownPass, error.Code);
    }

    [TestMethod]
    public void WhenFileMissing_ReportsRecipeNotFound()
    {
        using var dir = new TempDir();
        var error = Loader.Load(Path.Combine(dir.Path, "absent.yaml")).Errors.Single();

        Assert.AreEqual(DiagnosticCodes.RecipeNotFound, error.Code);
    }

    [TestMethod]
    public void WhenRecipeValid_ReadsEverySetting()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(Path.Combine(dir.Path, "data", "calib"));
        dir.Write("data/eval.npz", "");
        dir.Write("labels.txt", "cat\n");
        var recipe = Load(dir, """
            output: model.small.onnx
            opset: 17
            inputs:
              input: [1, 3, 224, 224]
              "mask:0": [1, 128]
            calibration: data/calib
            evaluation: ./data/eval.npz
            labels: labels.txt
            verify:
              min-cosine: 0.99
              max-abs-error: 1e-3
              max-top1-drop: 1%
              latency: true
              threads: 2
              optimization: basic
              execution-provider: cuda
            passes:
              - eliminate-identity
              - fuse-conv-bn:
              - quantize-dynamic:
                  weight-type: uint8
                  per-channel: true
                  exclude-ops: [Conv, "Mat Mul"]
              - prune-magnitude: { sparsity: 25%, min-size: 0, scope: "encoder/" }
              - eliminate-dead
            """).GetRecipeOrThrow();

        Assert.AreEqual("model.small.onnx", recipe.Output);
        Assert.AreEqual(17, recipe.Opset);
        Assert.AreEqual("input=1,3,224,224;mask:0=1,128", string.Join(";", recipe.Inputs.Select(i => i.Key + "=" + string.Join(",", i.Value))));
        Assert.AreEqual(Path.Combine(dir.Path, "data", "calib"), recipe.Calibration!.FullPath);
        Assert.AreEqual(Path.Combine(dir.Path, "data", "eval.npz"), recipe.Evaluation!.FullPath);
        Assert.AreEqual("labels.txt", recipe.Labels!.Written);
        Assert.AreEqual(new VerifySettings(true, 0.99, 1e-3, 0.01, Latency: true, Threads: 2, Optimization: "basic", ExecutionProvider: "cuda"), recipe.Verify);
        CollectionAssert.AreEqual(
            new[] { "eliminate-identity", "fuse-conv-bn", "quantize-dynamic", "prune-magnitude", "eliminate-dead" },
            recipe.Passes.Select(p => p.Name).ToArray());
        Assert.AreEqual(1e-5, recipe.Passes[1].Arguments.GetDouble("epsilon"));
        var quantize = recipe.Passes[2].Arguments;
        Assert.AreEqual("uint8", quantize.GetString("weight-type"));
        Assert.IsTrue(quantize.GetBool("per-channel"));
        CollectionAssert.AreEqual(new[] { "Conv", "Mat Mul" }, quantize.GetStringList("exclude-ops").ToArray());
        var prune = recipe.Passes[3].Arguments;
        Assert.AreEqual(0.25, prune.GetDouble("sparsity"));
        Assert.AreEqual(0, prune.GetInt("min-size"));
        Assert.AreEqual("encoder/", prune.GetString("scope"));
        Assert.AreEqual((20, 5), (recipe.Passes[2].Line, recipe.Passes[2].Column));
    }

    [TestMethod]
    [DataRow("verify: off", false)]
    [DataRow("verify: false", false)]
    [DataRow("verify: on", true)]
    public void WhenVerifyIsAWord_ReadsOnOrOff(string line, bool enabled)
    {
        using var dir = new TempDir();
        var recipe = Load(dir, line + "\npasses:\n  - eliminate-dead\n").GetRecipeOrThrow();

        Assert.AreEqual(new VerifySettings(enabled), recipe.Verify);
    }

    [TestMethod]
    public void WhenExtendsPreset_ChildReplacesByNameInPlace_AndAppendsNew()
    {
        using var dir = new TempDir();
        var recipe = Load(dir, """
            extends: optimize
            passes:
              - fuse-conv-bn: { epsilon: 0.001 }
              - quantize-dynamic
              - eliminate-dead: off
            """).GetRecipeOrThrow();

        CollectionAssert.AreEqual(
            new[] { "lift-constants", "fold-constants", "fold-reshape-shape", "eliminate-identity", "fuse-reshapes", "fuse-transposes", "fuse-conv-bn", "fuse-conv-mul-add", "fuse-gemm-bn", "fuse-matmul-add", "fuse-layernorm", "fuse-gelu", "dedupe-initializers", "quantize-dynamic" },
            recipe.Passes.Select(p => p.Name).ToArray());
        Assert.AreEqual(0.001, recipe.Passes.Single(p => p.Name == "fuse-conv-bn").Arguments.GetDouble("epsilon"));
        CollectionAssert.AreEqual(new[] { "optimize" }, recipe.ExtendsChain.ToArray());
    }

    [TestMethod]
    public void WhenInputValuesArePinned_TheyLoadWithTheirPositions_AndAChildEntryReplacesTheBasesWhole()
    {
        using var dir = new TempDir();
        dir.Write("base.yaml", "inputs:\n  x: [1, 4]\n  sr: [1]\n  mask: { shape: [1, 2], value: [1, 0] }\npasses:\n  - eliminate-dead\n");
        var recipe = Load(dir, "extends: ./base.yaml\ninputs:\n  sr: { values: [8000, 16000] }\n  flag: { value: true }\n").GetRecipeOrThrow();

        Assert.AreEqual("x=1,4;mask=1,2", string.Join(";", recipe.Inputs.Select(i => i.Key + "=" + string.Join(",", i.Value))), "sr's shape went with the base's entry");
        Assert.AreEqual("mask=[1,0];sr=8000|16000;flag=1", string.Join(";", recipe.InputValues.Select(p =>
            p.Name + "=" + string.Join("|", p.Values.Select(v => v.IsList ? "[" + string.Join(",", v.Elements) + "]" : string.Join(",", v.Elements))))));
        var sr = recipe.InputValues.Single(p => p.Name == "sr");
        Assert.AreEqual((3, 18), (sr.Values[0].Line, sr.Values[0].Column));
        Assert.AreEqual((3, 24), (sr.Values[1].Line, sr.Values[1].Column));
        Assert.AreEqual(Path.Combine(dir.Path, "compression.yaml"), sr.File);
        Assert.AreEqual(Path.Combine(dir.Path, "base.yaml"), recipe.InputValues.Single(p => p.Name == "mask").File);
    }

    [TestMethod]
    public void WhenExtendsFileChain_SettingsOverride_InputsMerge_PathsStayRelativeToTheirRecipe()
    {
        using var dir = new TempDir();
        dir.Write("shared/calib/x.bin", "");
        dir.Write("shared/base.yaml", """
            extends: optimize
            opset: 13
            output: base.onnx
            calibration: calib
            inputs:
              a: [1, 3]
              b: [2]
            passes:
              - eliminate-dead
              - prune-magnitude: { sparsity: 10% }
              - eliminate-dead
            """);
        var recipe = Load(dir, """
            extends: shared/base.yaml
            opset: 17
            inputs:
              b: [4]
            passes:
              - eliminate-dead
              - prune-magnitude: { min-size: 8 }
            """).GetRecipeOrThrow();

        Assert.AreEqual(17, recipe.Opset);
        Assert.AreEqual("base.onnx", recipe.Output);
        Assert.AreEqual(Path.Combine(dir.Path, "shared", "calib"), recipe.Calibration!.FullPath);
        Assert.AreEqual("a=1,3;b=4", string.Join(";", recipe.Inputs.Select(i => i.Key + "=" + string.Join(",", i.Value))));
        // Each level replaces the first not-yet-replaced entry of that name in place; the base's second eliminate-dead stays.
        CollectionAssert.AreEqual(
            new[] { "lift-constants", "fold-constants", "fold-reshape-shape", "eliminate-identity", "eliminate-dead", "fuse-reshapes", "fuse-transposes", "fuse-conv-bn", "fuse-conv-mul-add", "fuse-gemm-bn", "fuse-matmul-add", "fuse-layernorm", "fuse-gelu", "dedupe-initializers", "prune-magnitude", "eliminate-dead" },
            recipe.Passes.Select(p => p.Name).ToArray());
        // Replaced entirely: the base's sparsity is not inherited.
        Assert.AreEqual(0.5, recipe.Passes.Single(p => p.Name == "prune-magnitude").Arguments.GetDouble("sparsity"));
        Assert.AreEqual(8, recipe.Passes.Single(p => p.Name == "prune-magnitude").Arguments.GetInt("min-size"));
        CollectionAssert.AreEqual(new[] { "shared/base.yaml", "optimize" }, recipe.ExtendsChain.ToArray());
    }

    [TestMethod]
    [DataRow("model-int8.onnx")]
    [DataRow("int8/model.onnx")]
    public void WhenOutputIsRelativeOnnxPath_ItIsKept_WithItsPosition(string output)
    {
        using var dir = new TempDir();
        var recipe = Load(dir, $"passes:\n  - eliminate-dead\noutput: {output}\n").GetRecipeOrThrow();

        Assert.AreEqual(output, recipe.Output);
        Assert.AreEqual(new RecipeLocation(Path.Combine(dir.Path, "compression.yaml"), 3, 9), recipe.OutputLocation);
    }

    [TestMethod]
    public void WhenExtendsFiles_BaseFilesAndDataPathsListWhatTheResultDependsOn()
    {
        using var dir = new TempDir();
        dir.Write("data/calib.npy", "");
        dir.Write("data/eval/a.npy", "");
        dir.Write("shared/labels.npy", "");
        dir.Write("shared/base.yaml", "extends: int8\noutput: small.onnx\nlabels: labels.npy\n");
        dir.Write("mid.yaml", "extends: shared/base.yaml\ncalibration: data/calib.npy\n");
        var recipe = Load(dir, "extends: ./mid.yaml\nevaluation: data/eval\n").GetRecipeOrThrow();

        // Presets are no files; the bases are listed by full path, nearest first.
        CollectionAssert.AreEqual(new[] { Path.Combine(dir.Path, "mid.yaml"), Path.Combine(dir.Path, "shared", "base.yaml") }, recipe.BaseFiles.ToArray());
        CollectionAssert.AreEqual(
            new[] { Path.Combine(dir.Path, "data", "calib.npy"), Path.Combine(dir.Path, "data", "eval"), Path.Combine(dir.Path, "shared", "labels.npy") },
            recipe.DataPaths().Select(d => d.FullPath).ToArray());
        // The inherited output: points at the base recipe that wrote it.
        Assert.AreEqual("small.onnx", recipe.Output);
        Assert.AreEqual(new RecipeLocation(Path.Combine(dir.Path, "shared", "base.yaml"), 2, 9), recipe.OutputLocation);
    }

    [TestMethod]
    public void WhenExtendsCycle_ReportsAtTheExtendsThatClosesIt()
    {
        using var dir = new TempDir();
        var b = dir.Write("b.yaml", "passes:\n  - eliminate-dead\nextends: ./compression.yaml\n");
        var result = Load(dir, "extends: b.yaml\n");

        var error = result.Errors.Single();
        Assert.AreEqual(DiagnosticCodes.RecipeExtendsCycle, error.Code);
        Assert.AreEqual((b, 3, 10), (error.File, error.Line, error.Column));
    }

    [TestMethod]
    public void WhenBaseInvalid_ReportsInTheBaseFile()
    {
        using var dir = new TempDir();
        var b = dir.Write("base.yaml", "passes:\n  - fuse-conv-bn: { epsilon: x }\n");
        var result = Load(dir, "extends: ./base.yaml\npasses:\n  - nope\n");

        Assert.AreEqual(
            $"{Path.Combine(dir.Path, "compression.yaml")}:CT1006:3, {b}:CT1008:2",
            string.Join(", ", result.Errors.Select(e => $"{e.File}:{e.Code}:{e.Line}")));
    }

    [TestMethod]
    public void WhenParsedFromText_PathIsUsedForDiagnosticsAndResolution()
    {
        using var dir = new TempDir();
        dir.Write("calib.bin", "");
        var path = Path.Combine(dir.Path, "virtual.yaml");
        var recipe = Loader.Parse("calibration: calib.bin\nextends: optimize\n", path).GetRecipeOrThrow();

        Assert.AreEqual(path, recipe.SourcePath);
        Assert.AreEqual(Path.Combine(dir.Path, "calib.bin"), recipe.Calibration!.FullPath);
    }

    [TestMethod]
    public void WhenCalibrationMapsInputsToFiles_EachResolvesAgainstTheRecipe_PrintsAndReloadsTheSame_AndDataFilesListsThemAll()
    {
        using var dir = new TempDir();
        dir.Write("data/ids.npy", "");
        dir.Write("data/mask.npy", "");
        dir.Write("eval/test_data_set_0/input_0.pb", "");
        dir.Write("labels.npy", "");
        var recipe = Load(dir, "calibration:\n  input_ids: data/ids.npy\n  attention_mask: data/mask.npy\nevaluation: eval\nlabels: labels.npy\npasses:\n  - eliminate-dead\n").GetRecipeOrThrow();

        var inputs = recipe.Calibration!.Inputs;
        CollectionAssert.AreEqual(new[] { "input_ids", "attention_mask" }, inputs.Select(i => i.Key).ToArray());
        Assert.AreEqual(Path.Combine(dir.Path, "data", "ids.npy"), inputs[0].Value.FullPath);
        var source = recipe.Calibration.Source;
        Assert.IsNull(source.Path);
        CollectionAssert.AreEqual(new[] { Path.Combine(dir.Path, "data", "ids.npy"), Path.Combine(dir.Path, "data", "mask.npy") }, source.Inputs.Select(i => i.Value).ToArray());
        CollectionAssert.AreEqual(
            new[] { Path.Combine(dir.Path, "data", "ids.npy"), Path.Combine(dir.Path, "data", "mask.npy"),
                Path.Combine(dir.Path, "eval", "test_data_set_0", "input_0.pb"), Path.Combine(dir.Path, "labels.npy") },
            recipe.DataFiles().ToArray(), "calibration, evaluation (folders expanded, sample folders too), labels");

        var printed = RecipeWriter.Write(recipe, dir.Path);
        StringAssert.Contains(printed, "calibration:\n  input_ids: data/ids.npy\n  attention_mask: data/mask.npy\n");
        Assert.AreEqual(recipe, Loader.Load(dir.Write("printed.yaml", printed)).GetRecipeOrThrow(), "load → print → load");
        Assert.AreNotEqual(recipe, Load(dir, "calibration:\n  input_ids: data/mask.npy\n  attention_mask: data/ids.npy\nevaluation: eval\nlabels: labels.npy\npasses:\n  - eliminate-dead\n").GetRecipeOrThrow());
    }

    [TestMethod]
    public void WhenACalibrationMappingNamesAMissingFileOrAList_ErrorsPointAtTheEntry()
    {
        using var dir = new TempDir();
        dir.Write("ids.npy", "");
        var result = Load(dir, "calibration:\n  input_ids: ids.npy\n  attention_mask: absent.npy\n  token_type_ids: [a.npy, b.npy]\npasses:\n  - eliminate-dead\n");

        Assert.IsFalse(result.Succeeded);
        var missing = result.Errors.Single(e => e.Code == DiagnosticCodes.RecipeDataNotFound);
        Assert.AreEqual((3, 19), (missing.Line, missing.Column));
        StringAssert.Contains(missing.Message, "'calibration.attention_mask' names 'absent.npy'");
        var list = result.Errors.Single(e => e.Code != DiagnosticCodes.RecipeDataNotFound);
        Assert.AreEqual((4, 19), (list.Line, list.Column), list.ToString());
        StringAssert.Contains(list.Message, "calibration.token_type_ids");
    }
}
