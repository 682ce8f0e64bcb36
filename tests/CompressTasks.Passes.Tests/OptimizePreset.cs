using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe;

namespace CompressTasks.Passes.Tests;

/// <summary>The shipped <c>optimize</c> preset as pass steps, read from the preset itself so tests run what users run.</summary>
internal static class OptimizePreset
{
    public static IReadOnlyList<PassStep> Steps()
    {
        var recipe = new RecipeLoader(PassRegistry.Catalog)
            .Parse("extends: optimize\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();
        return recipe.Passes.Select(p => new PassStep(PassRegistry.Get(p.Name), p.Arguments)).ToList();
    }
}
