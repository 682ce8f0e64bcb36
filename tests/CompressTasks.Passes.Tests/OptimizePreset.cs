using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe;

namespace CompressTasks.Passes.Tests;

/// <summary>A shipped preset (<c>optimize</c> unless named) as pass steps, read from the preset itself so tests run what users run.</summary>
internal static class OptimizePreset
{
    public static IReadOnlyList<PassStep> Steps(string preset = "optimize")
    {
        var recipe = new RecipeLoader(PassRegistry.Catalog)
            .Parse($"extends: {preset}\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();
        return recipe.Passes.Select(p => new PassStep(PassRegistry.Get(p.Name), p.Arguments)).ToList();
    }
}
