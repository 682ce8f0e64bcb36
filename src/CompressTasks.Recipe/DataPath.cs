namespace CompressTasks.Recipe;

/// <summary>
/// A file or folder named by a recipe, relative to the recipe that named it. <see cref="FullPath"/> is what
/// code uses and what equality compares; <see cref="Written"/> is kept for messages.
/// </summary>
/// <param name="Written">The text as written in the recipe.</param>
/// <param name="FullPath">The absolute path, resolved against the declaring recipe's folder.</param>
public sealed record DataPath(string Written, string FullPath)
{
    /// <inheritdoc/>
    public bool Equals(DataPath? other) => other is not null && PathComparer.Equals(FullPath, other.FullPath);

    /// <inheritdoc/>
    public override int GetHashCode() => PathComparer.GetHashCode(FullPath);

    /// <summary>Paths compare case-insensitively on Windows and macOS, ordinally elsewhere.</summary>
    internal static StringComparer PathComparer { get; } =
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;
}
