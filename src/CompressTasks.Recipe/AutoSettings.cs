namespace CompressTasks.Recipe;

/// <summary>
/// The <c>auto:</c> section: let <c>compress tune</c> (or the build, on first use) choose one treatment per layer.
/// The budget is the recipe's <c>verify:</c>; the recipe's own passes run first, as the base every candidate starts from.
/// </summary>
/// <remarks>
/// <code>
///   auto:
///     objective: size              # size | latency
///     candidates:                  # weight passes, each tried on every layer it selects
///       - quantize-weights-int8
///       - quantize-weights-int8: { per-channel: false }
///       - [{ prune-magnitude: { sparsity: 0.5 } }, quantize-weights-int8]   a sequence: one treatment
/// </code>
/// </remarks>
/// <param name="Objective">What the search minimises: one of <see cref="Objectives"/>.</param>
/// <param name="Candidates">The treatments, each one pass entry or a sequence of them (their own selection parameters narrow where each is tried).</param>
/// <param name="Line">1-based line where the <c>auto:</c> mapping starts, or 0.</param>
/// <param name="Column">1-based column where the <c>auto:</c> mapping starts, or 0.</param>
public sealed record AutoSettings(string Objective, IReadOnlyList<TuneCandidate> Candidates, int Line = 0, int Column = 0)
{
    /// <summary>The values of <c>objective</c>; <c>size</c> is the default.</summary>
    public static readonly string[] Objectives = ["size", "latency"];

    /// <summary>The keys of an <c>auto:</c> mapping.</summary>
    public static readonly string[] Keys = ["objective", "candidates"];

    /// <inheritdoc/>
    public bool Equals(AutoSettings? other) => other is not null && Objective == other.Objective && Candidates.SequenceEqual(other.Candidates);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Objective, Candidates.Count);
}
