using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Recipe;

/// <summary>
/// One entry of <c>passes:</c>: the pass and its validated arguments. <see cref="File"/>, <see cref="Line"/>
/// and <see cref="Column"/> say where it was written (a base recipe's entry keeps the base's position) and
/// take no part in equality.
/// </summary>
public sealed class RecipePass(PassArguments arguments, string? file = null, int line = 0, int column = 0) : IEquatable<RecipePass>
{
    /// <summary>The pass name (kebab-case).</summary>
    public string Name => Arguments.Pass.Name;

    /// <summary>The typed arguments, defaults filled in.</summary>
    public PassArguments Arguments { get; } = arguments;

    /// <summary>The recipe file that declared this entry, if known.</summary>
    public string? File { get; } = file;

    /// <summary>1-based line of the entry, or 0.</summary>
    public int Line { get; } = line;

    /// <summary>1-based column of the entry, or 0.</summary>
    public int Column { get; } = column;

    /// <summary><c>layers:</c> per-layer overrides, in the order written; the first whose pattern matches a layer wins.</summary>
    public IReadOnlyList<LayerOverride> Layers { get; init; } = [];

    /// <summary>
    /// The runs this entry stands for, in order: one per override that is not a skip (its parameters, its layers only,
    /// none an earlier override claimed), then the entry's own parameters on every layer no override claims.
    /// </summary>
    public IReadOnlyList<PassArguments> Runs()
    {
        if (Layers.Count == 0) return [Arguments];
        var runs = new List<PassArguments>();
        var claimed = new List<string>();
        foreach (var layer in Layers)
        {
            if (layer.Arguments is { } arguments)
                runs.Add(Narrow(arguments, include: [layer.Pattern], exclude: claimed));
            claimed.Add(layer.Pattern);
        }
        runs.Add(Narrow(Arguments, include: null, exclude: claimed));
        return runs;
    }

    // The arguments with `include` replaced (when given) and `exclude` extended.
    private static PassArguments Narrow(PassArguments arguments, IReadOnlyList<string>? include, IReadOnlyList<string> exclude)
    {
        var values = arguments.Explicit.Where(kv => kv.Key is not ("include" or "exclude")).ToList();
        values.Add(new("include", include ?? arguments.GetStringList("include")));
        values.Add(new("exclude", (IReadOnlyList<string>)[.. arguments.GetStringList("exclude"), .. exclude]));
        return new PassArguments(arguments.Pass, values);
    }

    /// <inheritdoc/>
    public bool Equals(RecipePass? other) => other is not null && Arguments.Equals(other.Arguments) && Layers.SequenceEqual(other.Layers);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as RecipePass);

    /// <inheritdoc/>
    public override int GetHashCode() => Arguments.GetHashCode();

    /// <inheritdoc/>
    public override string ToString() => Arguments.ToString();
}
