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

    /// <summary>
    /// <c>output:</c> the compressed model's name, a relative path ending in <c>.onnx</c> (forward slashes, no
    /// <c>..</c>), or null: the model keeps its own name. In a build it replaces the model's file name in bin, publish
    /// and pack (an <c>OutputName</c> on the item wins); <c>compress run</c> without <c>-o</c> writes it beside the model.
    /// </summary>
    public string? Output { get; init; }

    /// <summary>Where the <c>output:</c> in effect was written (a base recipe's, when it came from there); takes no part in equality.</summary>
    public RecipeLocation? OutputLocation { get; init; }

    /// <summary>Full paths of the recipe files this one extends (presets excluded), nearest base first; takes no part in equality.</summary>
    public IReadOnlyList<string> BaseFiles { get; init; } = [];

    /// <summary><c>opset:</c> upgrade the default domain to this opset (an explicit <c>convert-opset</c> before the passes); null keeps the model's.</summary>
    public int? Opset { get; init; }

    /// <summary>
    /// <c>runtime:</c> what the compressed model is for: <c>any</c> (default; standard ONNX only) or <c>onnxruntime</c>,
    /// which lets passes with a <c>domain</c> parameter emit ONNX Runtime's com.microsoft ops unless the entry sets it.
    /// </summary>
    public string? Runtime { get; init; }

    /// <summary>The values of <c>runtime:</c>.</summary>
    public static readonly string[] Runtimes = ["any", "onnxruntime"];

    /// <summary><c>inputs:</c> input name → pinned shape, in the order written.</summary>
    public IReadOnlyList<KeyValuePair<string, IReadOnlyList<int>>> Inputs { get; init; } = [];

    /// <summary><c>inputs:</c> values pinned for generated inputs (<c>sr: { values: [8000, 16000] }</c>); one entry per name, order of no meaning.</summary>
    public IReadOnlyList<PinnedInput> InputValues { get; init; } = [];

    /// <summary><c>verify:</c> thresholds, <see cref="VerifySettings.Off"/>, or null when absent (the verifier's defaults).</summary>
    public VerifySettings? Verify { get; init; }

    /// <summary><c>calibration:</c> calibration data (file or folder, or one file per input).</summary>
    public DataPath? Calibration { get; init; }

    /// <summary><c>evaluation:</c> evaluation data (file or folder, or one file per input).</summary>
    public DataPath? Evaluation { get; init; }

    /// <summary><c>labels:</c> the labels file for the evaluation data.</summary>
    public DataPath? Labels { get; init; }

    /// <summary>
    /// The data files and folders the recipe reads (<c>calibration:</c>, <c>evaluation:</c>, <c>labels:</c>), in
    /// that order: with <see cref="BaseFiles"/> and the recipe itself, what decides whether an earlier result is stale.
    /// A folder stands for the files in it. New data keys belong here too, so the build and the cache see them.
    /// </summary>
    public IEnumerable<DataPath> DataPaths()
    {
        if (Calibration is not null) yield return Calibration;
        if (Evaluation is not null) yield return Evaluation;
        if (Labels is not null) yield return Labels;
    }

    /// <summary>Where the <c>verify:</c> in effect was written (a base recipe's, when it came from there); takes no part in equality.</summary>
    public RecipeLocation? VerifyLocation { get; init; }

    /// <summary><c>auto:</c> the per-layer search, or null when the recipe is fixed.</summary>
    public AutoSettings? Auto { get; init; }

    /// <summary>
    /// Every data file the recipe references (<c>calibration:</c>, <c>evaluation:</c>, <c>labels:</c>; folders and
    /// per-input mappings expanded), in that order: what a build must treat as inputs of the compression. With
    /// <paramref name="withFolders"/>, each folder also as itself, before its files (see <see cref="DataPath.Files"/>).
    /// </summary>
    public IReadOnlyList<string> DataFiles(bool withFolders = false) => [.. DataPaths().SelectMany(d => d.Files(withFolders))];

    /// <inheritdoc/>
    public bool Equals(Recipe? other) =>
        other is not null
        && Passes.SequenceEqual(other.Passes)
        && Output == other.Output
        && Opset == other.Opset
        && Runtime == other.Runtime
        && Inputs.Count == other.Inputs.Count
        && Inputs.Zip(other.Inputs).All(p => p.First.Key == p.Second.Key && p.First.Value.SequenceEqual(p.Second.Value))
        && InputValues.OrderBy(v => v.Name, StringComparer.Ordinal).SequenceEqual(other.InputValues.OrderBy(v => v.Name, StringComparer.Ordinal))
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
