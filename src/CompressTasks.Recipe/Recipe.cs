namespace CompressTasks.Recipe;

/// <summary>
/// A loaded, validated and flattened <c>compression.yaml</c>: <c>extends:</c> has already been applied, so
/// <see cref="Passes"/> is the complete ordered list to run. Equality compares content only (not
/// <see cref="SourcePath"/> or <see cref="ExtendsChain"/>), so load → print → load gives an equal recipe.
/// </summary>
public sealed class Recipe : IEquatable<Recipe>
{
    /// <summary>The file it was loaded from, or null for a recipe built in code.</summary>
    public string? SourcePath { get; init; }

    /// <summary>The <c>extends:</c> chain as written, nearest base first; empty when the recipe extends nothing.</summary>
    public IReadOnlyList<string> ExtendsChain { get; init; } = [];

    /// <summary>The passes, in run order.</summary>
    public IReadOnlyList<RecipePass> Passes { get; init; } = [];

    /// <summary><c>output:</c> the compressed model's file name, or null for the tool's default.</summary>
    public string? Output { get; init; }

    /// <summary><c>opset:</c> upgrade the default domain to this opset (an explicit <c>convert-opset</c> before the passes); null keeps the model's.</summary>
    public int? Opset { get; init; }

    /// <summary><c>inputs:</c> input name → pinned shape, in the order written.</summary>
    public IReadOnlyList<KeyValuePair<string, IReadOnlyList<int>>> Inputs { get; init; } = [];

    /// <summary><c>verify:</c> thresholds, <see cref="VerifySettings.Off"/>, or null when absent (the verifier's defaults).</summary>
    public VerifySettings? Verify { get; init; }

    /// <summary><c>calibration:</c> calibration data (file or folder, or one file per input).</summary>
    public DataPath? Calibration { get; init; }

    /// <summary><c>evaluation:</c> evaluation data (file or folder, or one file per input).</summary>
    public DataPath? Evaluation { get; init; }

    /// <summary><c>labels:</c> the labels file for the evaluation data.</summary>
    public DataPath? Labels { get; init; }

    /// <summary>Where the <c>verify:</c> in effect was written (a base recipe's, when it came from there); takes no part in equality.</summary>
    public RecipeLocation? VerifyLocation { get; init; }

    /// <summary><c>auto:</c> the per-layer search, or null when the recipe is fixed.</summary>
    public AutoSettings? Auto { get; init; }

    /// <summary>
    /// Every data file the recipe references (<c>calibration:</c>, <c>evaluation:</c>, <c>labels:</c>; folders and
    /// per-input mappings expanded), in that order: what a build must treat as inputs of the compression.
    /// </summary>
    public IReadOnlyList<string> DataFiles() =>
        [.. new[] { Calibration, Evaluation, Labels }.SelectMany(d => d?.Files() ?? [])];

    /// <inheritdoc/>
    public bool Equals(Recipe? other) =>
        other is not null
        && Passes.SequenceEqual(other.Passes)
        && Output == other.Output
        && Opset == other.Opset
        && Inputs.Count == other.Inputs.Count
        && Inputs.Zip(other.Inputs).All(p => p.First.Key == p.Second.Key && p.First.Value.SequenceEqual(p.Second.Value))
        && Equals(Verify, other.Verify)
        && Equals(Calibration, other.Calibration)
        && Equals(Evaluation, other.Evaluation)
        && Equals(Labels, other.Labels)
        && Equals(Auto, other.Auto);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Recipe);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Passes.Count, Output, Opset);
}

/// <summary>A position in a recipe file, for diagnostics about what was written there.</summary>
public sealed record RecipeLocation(string File, int Line, int Column);
