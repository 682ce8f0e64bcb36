using CompressTasks.Diagnostics;

namespace CompressTasks.Recipe;

/// <summary>
/// What <see cref="RecipeLoader"/> returns: the recipe when it is valid, and every error found otherwise
/// (the loader does not stop at the first).
/// </summary>
public sealed class RecipeLoadResult
{
    internal RecipeLoadResult(Recipe? recipe, IReadOnlyList<CompressTasksException> errors)
    {
        Recipe = errors.Count == 0 ? recipe : null;
        Errors = errors;
    }

    /// <summary>The flattened recipe, or null when there are errors.</summary>
    public Recipe? Recipe { get; }

    /// <summary>Every error, in the order found (the recipe's own first, then those of its bases).</summary>
    public IReadOnlyList<CompressTasksException> Errors { get; }

    /// <summary>True when there are no errors.</summary>
    public bool Succeeded => Errors.Count == 0;

    /// <summary>Returns the recipe, or throws as <see cref="ThrowIfErrors"/> does.</summary>
    public Recipe GetRecipeOrThrow()
    {
        ThrowIfErrors();
        return Recipe!;
    }

    /// <summary>
    /// Throws the error itself when there is exactly one, and an <see cref="AggregateException"/> of all of
    /// them (message: one canonical line each) when there are several.
    /// </summary>
    public void ThrowIfErrors()
    {
        if (Errors.Count == 1)
        {
            throw Errors[0];
        }

        if (Errors.Count > 1)
        {
            throw new AggregateException(string.Join(Environment.NewLine, Errors.Select(e => e.ToString())), Errors);
        }
    }
}
