using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe;

namespace CompressTasks.Engine;

/// <summary>The pass steps a recipe stands for: one place, so the build, the tuner and the CLI run the same pipeline.</summary>
internal static class PipelineSteps
{
    /// <summary>
    /// <c>opset: N</c> first, as an explicit <c>convert-opset</c> (the recipe asked for it; nothing upgrades silently), then
    /// each entry's runs (per-layer overrides expanded). Calibration data reach passes through the run's PassContext.
    /// </summary>
    public static List<PassStep> For(Recipe.Recipe? recipe, IEnumerable<RecipePass>? passes = null, bool withOpset = true)
    {
        var steps = new List<PassStep>();
        if (withOpset && recipe?.Opset is { } target)
        {
            var convert = PassRegistry.Get("convert-opset");
            steps.Add(new PassStep(convert, new PassArguments(convert.Descriptor, [new("target-opset", target)])));
        }
        foreach (var pass in passes ?? recipe?.Passes ?? [])
            steps.AddRange(pass.Runs().Select(arguments => new PassStep(PassRegistry.Get(pass.Name), ForRuntime(arguments, recipe?.Runtime))));
        return steps;
    }

    // runtime: onnxruntime makes com.microsoft the default of every `domain` parameter; an entry that sets domain keeps it.
    private static PassArguments ForRuntime(PassArguments arguments, string? runtime)
    {
        if (runtime != "onnxruntime" || arguments.IsExplicit(ContribDomain.Key) || !arguments.Pass.Parameters.Any(p => p.Name == ContribDomain.Key)) return arguments;
        return new PassArguments(arguments.Pass, [.. arguments.Explicit, new(ContribDomain.Key, ContribDomain.Name)]);
    }

    /// <summary>The context passes run with: the teacher at <paramref name="modelPath"/> and the recipe's calibration data.</summary>
    public static PassContext Context(string? modelPath, Recipe.Recipe? recipe) => new(modelPath, recipe?.Calibration?.Source);

    /// <summary>Whether every step is lossless, so the list may repeat to a fixed point (one fusion can enable another).</summary>
    public static bool Lossless(IEnumerable<PassStep> steps) =>
        steps.All(s => s.Pass.Descriptor.Kind is PassKind.Cleanup or PassKind.Folding or PassKind.Fusion);
}
