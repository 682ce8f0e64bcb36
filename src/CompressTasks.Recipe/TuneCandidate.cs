namespace CompressTasks.Recipe;

/// <summary>
/// One treatment <c>compress tune</c> may give a layer: a weight pass, or a sequence of them applied to the same layer
/// in order (written as a list), which the search treats as one treatment.
/// </summary>
/// <remarks>
/// <code>
///   auto:
///     candidates:
///       - quantize-weights-int8                                          one pass
///       - [{ prune-magnitude: { sparsity: 0.5 } }, quantize-int4]       prune half, then 4 bits: one treatment
/// </code>
/// The resolved recipe writes a combined treatment as one entry per pass, each narrowed to the layers that took it.
/// </remarks>
public sealed class TuneCandidate(IReadOnlyList<RecipePass> steps) : IEquatable<TuneCandidate>
{
    /// <summary>The passes, in the order they run on a layer (at least one).</summary>
    public IReadOnlyList<RecipePass> Steps { get; } = steps.Count > 0 ? steps : throw new ArgumentException("A candidate has at least one pass.", nameof(steps));

    /// <summary>True for a sequence of passes.</summary>
    public bool IsCombined => Steps.Count > 1;

    /// <summary>Where the candidate was written: its first pass's position.</summary>
    public int Line => Steps[0].Line;

    /// <inheritdoc/>
    public bool Equals(TuneCandidate? other) => other is not null && Steps.SequenceEqual(other.Steps);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TuneCandidate);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Steps.Count, Steps[0]);

    /// <inheritdoc/>
    public override string ToString() => string.Join(" then ", Steps);
}
