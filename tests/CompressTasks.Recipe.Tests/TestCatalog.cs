using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Recipe.Tests;

/// <summary>
/// A stand-in for the pass registry: the preset passes plus a few with one parameter of every type.
/// Declarations only; the real passes come from CompressTasks.Passes.
/// </summary>
internal static class TestCatalog
{
    public static PassCatalog Instance { get; } = new(
    [
        new PassDescriptor("eliminate-identity", PassKind.Cleanup, "Removes Identity nodes."),
        new PassDescriptor("eliminate-dead", PassKind.Cleanup, "Removes nodes no output depends on."),
        new PassDescriptor("fuse-conv-bn", PassKind.Fusion, "Folds BatchNormalization into the preceding Conv.",
            [ParameterSpec.Float("epsilon", 1e-5, "Overrides the BatchNormalization epsilon.", minimum: 0)],
            "- fuse-conv-bn: { epsilon: 1e-5 }"),
        new PassDescriptor("fuse-matmul-add", PassKind.Fusion, "Fuses MatMul followed by Add into Gemm."),
        new PassDescriptor("dedupe-initializers", PassKind.Cleanup, "Merges initializers with identical contents."),
        new PassDescriptor("quantize-dynamic", PassKind.Quantization, "Quantizes weights; activations at run time.",
            [
                ParameterSpec.Enum("weight-type", "int8", ["int8", "uint8"], "Weight element type."),
                ParameterSpec.Bool("per-channel", false, "One scale per output channel."),
                ParameterSpec.StringList("exclude-ops", "Op types left in float."),
            ]),
        new PassDescriptor("lift-constants", PassKind.Folding, "Turns Constant nodes into initializers."),
        new PassDescriptor("fold-reshape-shape", PassKind.Folding, "Turns self-shape Reshape targets into constants."),
        new PassDescriptor("fuse-reshapes", PassKind.Fusion, "Collapses shape-op chains into one Reshape."),
        new PassDescriptor("fuse-transposes", PassKind.Fusion, "Composes consecutive Transposes."),
        new PassDescriptor("fuse-conv-mul-add", PassKind.Fusion, "Folds per-channel Mul/Add into Conv."),
        new PassDescriptor("fuse-gemm-bn", PassKind.Fusion, "Folds BatchNormalization into Gemm."),
        new PassDescriptor("fuse-layernorm", PassKind.Fusion, "Fuses decomposed LayerNorm."),
        new PassDescriptor("fuse-gelu", PassKind.Fusion, "Fuses erf GELU."),
        new PassDescriptor("prune-magnitude", PassKind.Pruning, "Zeroes the smallest weights.",
            [
                ParameterSpec.Ratio("sparsity", 0.5, "Fraction of weights to zero."),
                ParameterSpec.Int("min-size", 1024, "Skip tensors with fewer elements.", minimum: 0, maximum: 1_000_000),
                ParameterSpec.String("scope", "", "Only nodes whose name starts with this."),
            ]),
        new PassDescriptor("quantize-weights-int8", PassKind.Quantization, "Stores MatMul/Gemm/Conv weights as int8 (the int8 preset's pass)."),
        new PassDescriptor("quantize-int4", PassKind.Quantization, "Stores MatMul/Gemm weights as 4-bit blocks (the int4 preset's pass)."),
        new PassDescriptor("quantize-static", PassKind.Quantization, "Calibrated int8 weights and activations (the int8-static preset's pass)."),
        new PassDescriptor("fold-constants", PassKind.Folding, "Evaluates nodes whose inputs are all constants.",
            [ParameterSpec.Int("max-elements", 1_000_000, "Largest result folded, in elements.", minimum: 1)]),
        new PassDescriptor("quantize-layered", PassKind.Quantization, "A weight pass that selects layers (WeightSelection's parameters).",
            [ParameterSpec.Bool("per-channel", true, "One scale per output channel."), .. WeightSelection.Parameters(["MatMul", "Gemm"], 16)]),
        new PassDescriptor("convert-fp16", PassKind.Quantization, "Converts weights and compute to float16 (the fp16 preset's pass)."),
    ]);
}

/// <summary>A temporary folder, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "ct-recipe-" + Guid.NewGuid().ToString("N"));

    public TempDir() => Directory.CreateDirectory(Path);

    public string Write(string relative, string text)
    {
        var full = System.IO.Path.Combine(Path, relative);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        File.WriteAllText(full, text);
        return full;
    }

    public void Dispose() => Directory.Delete(Path, recursive: true);
}
