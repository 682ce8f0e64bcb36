using CompressTasks.Runtime.Data;

namespace CompressTasks.Recipe;

/// <summary>
/// A file or folder named by a recipe, relative to the recipe that named it, or (for <c>calibration:</c> and
/// <c>evaluation:</c>) one file per model input: <c>calibration: { input_ids: ids.npy, attention_mask: mask.npy }</c>.
/// <see cref="FullPath"/> is what code uses and what equality compares; <see cref="Written"/> is kept for messages.
/// </summary>
/// <param name="Written">The text as written in the recipe (for the per-input form, <c>{ name: file, … }</c>).</param>
/// <param name="FullPath">The absolute path, resolved against the declaring recipe's folder (for the per-input form,
/// that folder: the data are in <see cref="Inputs"/>).</param>
public sealed record DataPath(string Written, string FullPath)
{
    /// <summary>The per-input form: model input name → its data file, in recipe order; empty for a single path.</summary>
    public IReadOnlyList<KeyValuePair<string, DataPath>> Inputs { get; init; } = [];

    /// <summary>The data as the loader reads them.</summary>
    public DataSource Source => Inputs.Count == 0
        ? DataSource.FromPath(FullPath)
        : DataSource.PerInput(Inputs.Select(i => new KeyValuePair<string, string>(i.Key, i.Value.FullPath)));

    /// <summary>
    /// Every file this names, folders expanded (sample folders too), in a stable order. With
    /// <paramref name="withFolders"/>, each folder comes first as itself, ending with the separator: a build that
    /// watches it also sees files added later.
    /// </summary>
    public IEnumerable<string> Files(bool withFolders = false)
    {
        // A per-input mapping (calibration: { ids: a.npy, mask: b.npy }) stands for each of its paths.
        foreach (var path in Inputs.Count == 0 ? [FullPath] : Inputs.Select(i => i.Value.FullPath))
        {
            if (!Directory.Exists(path))
            {
                yield return path;
                continue;
            }
            if (withFolders) yield return Path.TrimEndingDirectorySeparator(path) + Path.DirectorySeparatorChar;
            foreach (var file in Directory.GetFiles(path, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)) yield return file;
        }
    }

    /// <inheritdoc/>
    public bool Equals(DataPath? other) =>
        other is not null && PathComparer.Equals(FullPath, other.FullPath)
        && Inputs.Count == other.Inputs.Count && Inputs.Zip(other.Inputs).All(p => p.First.Key == p.Second.Key && p.First.Value.Equals(p.Second.Value));

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(PathComparer.GetHashCode(FullPath), Inputs.Count);

    /// <summary>Paths compare case-insensitively on Windows and macOS, ordinally elsewhere.</summary>
    internal static StringComparer PathComparer { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
}
