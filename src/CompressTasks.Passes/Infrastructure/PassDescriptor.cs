using System.Text.RegularExpressions;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// Declares a pass the way a recipe sees it: its kebab-case name (the recipe key, verb first, e.g.
/// <c>fuse-conv-bn</c>), kind, one-line summary, parameters and a YAML sample entry for the docs.
/// </summary>
public sealed partial class PassDescriptor
{
    /// <summary>Creates a descriptor; throws when the name or a parameter name is not kebab-case or is repeated.</summary>
    public PassDescriptor(string name, PassKind kind, string summary, IReadOnlyList<ParameterSpec>? parameters = null, string? sample = null)
    {
        if (!IsKebabCase(name))
        {
            throw new ArgumentException($"Pass name '{name}' is not kebab-case.", nameof(name));
        }

        Name = name;
        Kind = kind;
        Summary = summary;
        Parameters = parameters ?? [];
        Sample = sample ?? $"- {name}";
        var duplicate = Parameters.GroupBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Pass '{name}' declares parameter '{duplicate.Key}' twice.", nameof(parameters));
        }
    }

    /// <summary>The recipe key, kebab-case and verb first.</summary>
    public string Name { get; }

    /// <summary>The broad category.</summary>
    public PassKind Kind { get; }

    /// <summary>One line saying what the pass does.</summary>
    public string Summary { get; }

    /// <summary>The parameters, in documentation order.</summary>
    public IReadOnlyList<ParameterSpec> Parameters { get; }

    /// <summary>A sample <c>passes:</c> entry in YAML, e.g. <c>- prune-magnitude: { sparsity: 50% }</c>.</summary>
    public string Sample { get; }

    /// <summary>The parameter called <paramref name="name"/>, or null.</summary>
    public ParameterSpec? FindParameter(string name) => Parameters.FirstOrDefault(p => p.Name == name);

    /// <summary>True for lower-case words of letters and digits joined by single hyphens, starting with a letter.</summary>
    public static bool IsKebabCase(string name) => KebabCase().IsMatch(name);

    /// <inheritdoc/>
    public override string ToString() => Name;

    [GeneratedRegex("^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
    private static partial Regex KebabCase();
}
