namespace CompressTasks.Recipe;

/// <summary>
/// The values an <c>inputs:</c> entry pins for one input of the model: the generated inputs (used when the recipe gives
/// no data) take these values instead of random ones. Sample <c>i</c> uses <c>Values[i % Values.Count]</c>, so a list
/// cycles through its values across samples and every branch an input selects gets exercised.
/// </summary>
/// <remarks>
/// <code>
///   inputs:
///     input: [1, 512]                     a shape only (random values)
///     sr: { value: 16000 }                every sample: 16000
///     sr: { values: [8000, 16000] }       samples alternate between the two
///     mask: { shape: [1, 4], value: [1, 1, 0, 0] }
/// </code>
/// A value is a number (every element of the tensor takes it) or a flat list with one number per element. Whether it
/// fits the input's element type and shape is checked against the model (CT1020 at the value's line and column).
/// </remarks>
/// <param name="Name">The input's name.</param>
/// <param name="Values">One value per sample position, in the order written.</param>
/// <param name="File">The recipe that pinned it (takes no part in equality).</param>
public sealed record PinnedInput(string Name, IReadOnlyList<PinnedValue> Values, string? File = null)
{
    /// <summary>The keys of an <c>inputs:</c> entry written as a mapping.</summary>
    public static readonly string[] Keys = ["shape", "value", "values"];

    /// <inheritdoc/>
    public bool Equals(PinnedInput? other) => other is not null && Name == other.Name && Values.SequenceEqual(other.Values);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Name, Values.Count);
}

/// <summary>One pinned value: a single number for every element, or one number per element.</summary>
/// <param name="Elements">The numbers, as written (integers up to 2⁵³ are exact).</param>
/// <param name="Line">1-based line of the value, or 0 (takes no part in equality).</param>
/// <param name="Column">1-based column of the value, or 0 (takes no part in equality).</param>
/// <param name="IsList">True when written as a list (<c>[3]</c>), false for a plain number (<c>3</c>).</param>
public sealed record PinnedValue(IReadOnlyList<double> Elements, bool IsList, int Line = 0, int Column = 0)
{
    /// <inheritdoc/>
    public bool Equals(PinnedValue? other) => other is not null && IsList == other.IsList && Elements.SequenceEqual(other.Elements);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Elements.Count, IsList);
}
