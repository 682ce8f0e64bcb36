using System.Text;

namespace CompressTasks.Recipe;

/// <summary>
/// Markdown reference for every pass in a catalog, generated from the declarations so the docs cannot drift:
/// per pass its kind, summary, sample entry and a table of parameters with type, default and allowed values.
/// </summary>
public static class RecipeDocs
{
    /// <summary>The reference as Markdown.</summary>
    public static string Generate(CompressTasks.Passes.Infrastructure.IPassCatalog catalog)
    {
        var s = new StringBuilder("# Recipe passes\n\n");
        foreach (var pass in catalog.Passes)
        {
            s.Append("## `").Append(pass.Name).Append("` (").Append(pass.Kind).Append(")\n\n")
                .Append(pass.Summary).Append("\n\n```yaml\npasses:\n  ")
                .Append(pass.Sample.ReplaceLineEndings("\n  ")).Append("\n```\n\n");
            if (pass.Parameters.Count == 0)
            {
                s.Append("No parameters.\n\n");
                continue;
            }

            s.Append("| Parameter | Type | Default | Description |\n|---|---|---|---|\n");
            foreach (var p in pass.Parameters)
            {
                var type = p.Type switch
                {
                    Passes.Infrastructure.ParameterType.Enum => string.Join(" \\| ", p.AllowedValues.Select(v => $"`{v}`")),
                    Passes.Infrastructure.ParameterType.Ratio => "ratio (0..1 or 0%..100%)",
                    _ when p.Minimum is not null || p.Maximum is not null => $"{p.Type.ToString().ToLowerInvariant()} in [{p.Minimum?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "…"}, {p.Maximum?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "…"}]",
                    _ => p.Type.ToString().ToLowerInvariant(),
                };
                s.Append("| `").Append(p.Name).Append("` | ").Append(type).Append(" | `").Append(p.FormatDefault()).Append("` | ").Append(p.Doc).Append(" |\n");
            }

            s.Append('\n');
        }

        return s.ToString();
    }
}
