using CompressTasks.Diagnostics;
using CompressTasks.Recipe;
using CompressTasks.Runtime;

namespace CompressTasks.Engine;

/// <summary>The recipe's <c>inputs:</c> as the generator takes them: pinned shapes and pinned values, checked against the model.</summary>
internal static class PinnedInputs
{
    /// <summary>Input name → pinned shape.</summary>
    public static Dictionary<string, long[]> Shapes(Recipe.Recipe? recipe) =>
        (recipe?.Inputs ?? []).ToDictionary(kv => kv.Key, kv => kv.Value.Select(d => (long)d).ToArray(), StringComparer.Ordinal);

    /// <summary>
    /// Input name → the values cycled across samples, after checking each against <paramref name="inputs"/> (the model's):
    /// CT1021 when the name is no input, CT1020 when a value does not fit the element type or count, both at the recipe's
    /// line and column. Null when nothing is pinned.
    /// </summary>
    public static Dictionary<string, IReadOnlyList<IReadOnlyList<double>>>? Values(Recipe.Recipe? recipe, IReadOnlyList<TensorInfo> inputs, string modelPath)
    {
        if (recipe is null || recipe.InputValues.Count == 0) return null;
        var shapes = Shapes(recipe);
        var values = new Dictionary<string, IReadOnlyList<IReadOnlyList<double>>>(StringComparer.Ordinal);
        foreach (var pin in recipe.InputValues)
        {
            var input = inputs.FirstOrDefault(i => i.Name == pin.Name);
            var first = pin.Values[0];
            if (input is null)
                throw new CompressTasksException(DiagnosticCodes.RecipeInputNotInModel,
                    $"inputs: '{pin.Name}' is no input of {Path.GetFileName(modelPath)}; its inputs: {string.Join(", ", inputs.Select(i => i.Name))}",
                    pin.File ?? recipe.SourcePath, first.Line, first.Column);
            long count = 1;
            foreach (var d in InputGenerator.Shape(input, shapes)) count *= d;
            foreach (var value in pin.Values)
            {
                if (InputGenerator.Misfit(input, value.Elements, count) is { } problem)
                    throw new CompressTasksException(DiagnosticCodes.RecipeInputValueMismatch, $"inputs: {problem}", pin.File ?? recipe.SourcePath, value.Line, value.Column);
            }
            values[pin.Name] = [.. pin.Values.Select(v => v.Elements)];
        }
        return values;
    }
}
