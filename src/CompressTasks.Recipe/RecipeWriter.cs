using CompressTasks.Passes.Infrastructure;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace CompressTasks.Recipe;

/// <summary>
/// Prints a <see cref="Recipe"/> as <c>compression.yaml</c>. The output is flat (no <c>extends:</c>; the
/// recipe already holds its bases' passes) and lists only parameters the recipe set explicitly, so loading
/// the printed text gives an equal recipe.
/// </summary>
public static partial class RecipeWriter
{
    /// <summary>
    /// The YAML text. Data paths are written relative to <paramref name="directory"/> (the folder the text
    /// will be saved in); by default, as absolute paths.
    /// </summary>
    public static string Write(Recipe recipe, string? directory = null)
    {
        var s = new StringBuilder();
        if (recipe.Output is { } output)
        {
            s.Append("output: ").AppendLine(Quote(output));
        }

        if (recipe.Opset is { } opset)
        {
            s.Append("opset: ").AppendLine(opset.ToString(CultureInfo.InvariantCulture));
        }

        if (recipe.Runtime is { } runtime)
        {
            s.Append("runtime: ").AppendLine(runtime);
        }

        if (recipe.Inputs.Count > 0 || recipe.InputValues.Count > 0)
        {
            s.AppendLine("inputs:");
            var names = recipe.Inputs.Select(i => i.Key).Concat(recipe.InputValues.Select(v => v.Name)).Distinct(StringComparer.Ordinal);
            foreach (var name in names)
            {
                var shape = recipe.Inputs.FirstOrDefault(i => i.Key == name).Value;
                var pinned = recipe.InputValues.FirstOrDefault(v => v.Name == name);
                string dims = shape is null ? "" : "[" + string.Join(", ", shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + "]";
                s.Append("  ").Append(Quote(name)).Append(": ");
                if (pinned is null)
                {
                    s.AppendLine(dims);
                    continue;
                }

                var parts = new List<string>();
                if (shape is not null)
                {
                    parts.Add("shape: " + dims);
                }

                parts.Add(pinned.Values.Count == 1 ? "value: " + FormatPinned(pinned.Values[0]) : "values: [" + string.Join(", ", pinned.Values.Select(FormatPinned)) + "]");
                s.Append("{ ").Append(string.Join(", ", parts)).AppendLine(" }");
            }
        }

        WritePath(s, "calibration", recipe.Calibration, directory);
        WritePath(s, "evaluation", recipe.Evaluation, directory);
        WritePath(s, "labels", recipe.Labels, directory);
        if (recipe.Verify is { } verify)
        {
            if (!verify.Enabled)
            {
                s.AppendLine("verify: off");
            }
            else if (verify is { MinCosine: null, MinSnrDb: null, MaxAbsError: null, MaxTop1Drop: null, Latency: false, HasDefaultSessionOptions: true })
            {
                s.AppendLine("verify: on");
            }
            else
            {
                s.AppendLine("verify:");
                WriteNumber(s, "min-cosine", verify.MinCosine);
                WriteNumber(s, "min-snr", verify.MinSnrDb);
                WriteNumber(s, "max-abs-error", verify.MaxAbsError);
                WriteNumber(s, "max-top1-drop", verify.MaxTop1Drop);
                if (verify.Latency)
                {
                    s.AppendLine("  latency: true");
                }

                if (verify.Threads != 0)
                {
                    s.Append("  threads: ").AppendLine(verify.Threads.ToString(CultureInfo.InvariantCulture));
                }

                if (verify.Optimization != "all")
                {
                    s.Append("  optimization: ").AppendLine(verify.Optimization);
                }

                if (verify.ExecutionProvider != "cpu")
                {
                    s.Append("  execution-provider: ").AppendLine(verify.ExecutionProvider);
                }
            }
        }

        s.AppendLine("passes:");
        foreach (var pass in recipe.Passes)
        {
            WritePass(s, pass, "  ");
        }

        if (recipe.Auto is { } auto)
        {
            s.AppendLine("auto:");
            s.Append("  objective: ").AppendLine(auto.Objective);
            s.AppendLine("  candidates:");
            foreach (var candidate in auto.Candidates)
            {
                if (candidate.IsCombined)
                {
                    // A sequence in flow style, each pass in braces: [{ prune-magnitude: { sparsity: 0.5 } }, quantize-int4]
                    s.Append("    - [").Append(string.Join(", ", candidate.Steps.Select(FlowPass))).AppendLine("]");
                }
                else
                {
                    WritePass(s, candidate.Steps[0], "    ");
                }
            }
        }

        return s.ToString();
    }

    // One pass entry on one line: `name`, or `{ name: { parameter: value, layers: { "glob": skip } } }`.
    private static string FlowPass(RecipePass pass)
    {
        var values = pass.Arguments.Explicit;
        if (values.Count == 0 && pass.Layers.Count == 0)
        {
            return pass.Name;
        }

        var parts = values.Select(kv => $"{kv.Key}: {FormatValue(kv.Value)}").ToList();
        if (pass.Layers.Count > 0)
        {
            var layers = pass.Layers.Select(layer => Quote(layer.Pattern) + ": " + (layer.Arguments is not { } arguments ? "skip"
                : "{ " + string.Join(", ", arguments.Explicit.Where(kv => !values.Any(v => v.Key == kv.Key && PassArguments.ValueEquals(v.Value, kv.Value)))
                    .Select(kv => $"{kv.Key}: {FormatValue(kv.Value)}")) + " }"));
            parts.Add("layers: { " + string.Join(", ", layers) + " }");
        }

        return "{ " + pass.Name + ": { " + string.Join(", ", parts) + " } }";
    }

    private static void WritePass(StringBuilder s, RecipePass pass, string indent)
    {
        var values = pass.Arguments.Explicit;
        s.Append(indent).Append("- ").Append(pass.Name);
        if (values.Count == 0 && pass.Layers.Count == 0)
        {
            s.AppendLine();
            return;
        }

        s.AppendLine(":");
        foreach (var (name, value) in values)
        {
            s.Append(indent).Append("    ").Append(name).Append(": ").AppendLine(FormatValue(value));
        }

        if (pass.Layers.Count > 0)
        {
            s.Append(indent).AppendLine("    layers:");
        }

        foreach (var layer in pass.Layers)
        {
            s.Append(indent).Append("      ").Append(Quote(layer.Pattern)).Append(": ");
            if (layer.Arguments is not { } arguments)
            {
                s.AppendLine("skip");
                continue;
            }

            // Only what differs from the entry: the override started from the entry's own values.
            var own = arguments.Explicit.Where(kv => !values.Any(v => v.Key == kv.Key && PassArguments.ValueEquals(v.Value, kv.Value)));
            s.Append("{ ").Append(string.Join(", ", own.Select(kv => $"{kv.Key}: {FormatValue(kv.Value)}"))).AppendLine(" }");
        }
    }

    /// <summary>A parameter value as YAML: <c>true</c>, <c>3</c>, <c>0.5</c>, <c>text</c>, <c>[a, "b c"]</c>.</summary>
    public static string FormatValue(object value) => value switch
    {
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IReadOnlyList<string> list => "[" + string.Join(", ", list.Select(Quote)) + "]",
        string text => Quote(text),
        _ => throw new ArgumentException($"Cannot print a {value.GetType().Name}.", nameof(value)),
    };

    /// <summary>
    /// Text as a YAML scalar: plain when it is a safe word that YAML would not read as another type, else
    /// double-quoted.
    /// </summary>
    public static string Quote(string text) =>
        SafePlain().IsMatch(text) && !LooksTyped().IsMatch(text)
            ? text
            : "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string FormatPinned(PinnedValue value)
    {
        var numbers = value.Elements.Select(e => e.ToString("R", CultureInfo.InvariantCulture));
        return value.IsList ? "[" + string.Join(", ", numbers) + "]" : numbers.Single();
    }

    private static void WritePath(StringBuilder s, string key, DataPath? path, string? directory)
    {
        if (path is null)
        {
            return;
        }

        if (path.Inputs.Count == 0)
        {
            s.Append(key).Append(": ").AppendLine(Relative(path.FullPath, directory));
            return;
        }

        s.Append(key).AppendLine(":");
        foreach (var (input, file) in path.Inputs)
        {
            s.Append("  ").Append(Quote(input)).Append(": ").AppendLine(Relative(file.FullPath, directory));
        }
    }

    private static string Relative(string fullPath, string? directory) =>
        Quote((directory is null ? fullPath : Path.GetRelativePath(directory, fullPath)).Replace('\\', '/'));

    private static void WriteNumber(StringBuilder s, string key, double? value)
    {
        if (value is { } v)
        {
            s.Append("  ").Append(key).Append(": ").AppendLine(v.ToString("R", CultureInfo.InvariantCulture));
        }
    }

    [GeneratedRegex(@"^[A-Za-z_./][A-Za-z0-9_./+-]*$")]
    private static partial Regex SafePlain();

    // Words YAML 1.1/1.2 resolve to booleans or null; the loader would still read them as text, but editors would not.
    [GeneratedRegex("^(?i:true|false|yes|no|on|off|y|n|null|~)$")]
    private static partial Regex LooksTyped();
}
