using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Recipe;

/// <summary>
/// One entry of a pass's <c>layers:</c> map: the layers whose node or weight name matches <see cref="Pattern"/> (a
/// glob) are skipped (<see cref="Arguments"/> null) or run with their own parameters (the pass's, overridden).
/// </summary>
/// <remarks>
/// <code>
///   - quantize-weights-int8:
///       per-channel: true
///       layers:
///         "fc3*": { per-channel: false }    these layers per tensor
///         "conv1*": skip                     these stay float
/// </code>
/// </remarks>
public sealed class LayerOverride(string pattern, PassArguments? arguments, string? file = null, int line = 0, int column = 0) : IEquatable<LayerOverride>
{
    /// <summary>Parameters a layer override may not set: they are how the override selects its layers.</summary>
    public static readonly IReadOnlyList<string> SelectionParameters = ["include", "exclude", "keep-first", "keep-last"];

    /// <summary>A glob over node and weight names (<c>*</c>, <c>?</c>).</summary>
    public string Pattern { get; } = pattern;

    /// <summary>The arguments for the matching layers, or null: leave them alone.</summary>
    public PassArguments? Arguments { get; } = arguments;

    /// <summary>Whether the matching layers are left alone.</summary>
    public bool Skip => Arguments is null;

    /// <summary>Where the pattern was written (takes no part in equality).</summary>
    public string? File { get; } = file;

    /// <summary>1-based line of the pattern, or 0.</summary>
    public int Line { get; } = line;

    /// <summary>1-based column of the pattern, or 0.</summary>
    public int Column { get; } = column;

    /// <inheritdoc/>
    public bool Equals(LayerOverride? other) => other is not null && Pattern == other.Pattern && Equals(Arguments, other.Arguments);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as LayerOverride);

    /// <inheritdoc/>
    public override int GetHashCode() => Pattern.GetHashCode(StringComparison.Ordinal);
}
