using System.Reflection;

namespace CompressTasks.Recipe.Presets;

/// <summary>
/// The recipes shipped inside this assembly (<c>Presets/*.yaml</c>, embedded), named by file name without
/// extension. A recipe uses one with <c>extends: optimize</c>.
/// </summary>
public static class RecipePresets
{
    private const string Prefix = "CompressTasks.Recipe.Presets.";
    private const string Suffix = ".yaml";

    /// <summary>The preset names, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } =
        [.. typeof(RecipePresets).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(Prefix, StringComparison.Ordinal) && n.EndsWith(Suffix, StringComparison.Ordinal))
            .Select(n => n[Prefix.Length..^Suffix.Length])
            .Order(StringComparer.Ordinal)];

    /// <summary>The YAML text of preset <paramref name="name"/>, or null when there is none.</summary>
    public static string? TryGetText(string name)
    {
        using var stream = typeof(RecipePresets).Assembly.GetManifestResourceStream(Prefix + name + Suffix);
        if (stream is null)
        {
            return null;
        }

        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    /// <summary>The pseudo-path diagnostics use for a preset, e.g. <c>preset:optimize</c>.</summary>
    public static string DisplayPath(string name) => "preset:" + name;

    /// <summary>
    /// True when an <c>extends:</c> value names a preset rather than a file: no directory separator and no
    /// <c>.yaml</c>/<c>.yml</c> extension.
    /// </summary>
    public static bool IsPresetReference(string extends) =>
        extends.IndexOfAny(['/', '\\']) < 0
        && !extends.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase)
        && !extends.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);
}
