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

    /// <inheritdoc/>
    public bool Equals(RecipePass? other) => other is not null && Arguments.Equals(other.Arguments);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as RecipePass);

    /// <inheritdoc/>
    public override int GetHashCode() => Arguments.GetHashCode();

    /// <inheritdoc/>
    public override string ToString() => Arguments.ToString();
}
