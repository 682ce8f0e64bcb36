using System.Globalization;
using CompressTasks.Diagnostics;
using CompressTasks.Passes.Infrastructure;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CompressTasks.Recipe;

/// <summary>
/// Turns YAML nodes into typed values, recording a positioned diagnostic for each value that does not fit.
/// Every reader returns null (and records an error) on failure so the loader can keep going.
/// </summary>
internal sealed class ValueReader(string file, List<CompressTasksException> errors)
{
    public string File { get; } = file;

    public void Error(string code, string message, Mark at) =>
        errors.Add(new CompressTasksException(code, message, File, (int)at.Line, (int)at.Column));

    public void Error(string code, string message, YamlNode at) => Error(code, message, at.Start);

    /// <summary>An empty value: <c>key:</c> with nothing after it, <c>~</c> or <c>null</c>.</summary>
    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any } s
        && (string.IsNullOrEmpty(s.Value) || s.Value is "~" or "null" or "Null" or "NULL");

    public string? Scalar(YamlNode node, string what)
    {
        if (node is YamlScalarNode scalar && !IsNull(node))
        {
            return scalar.Value ?? "";
        }

        Error(DiagnosticCodes.RecipeWrongType, $"{what} needs a single value, not {Describe(node)}.", node);
        return null;
    }

    public bool? Bool(YamlNode node, string what)
    {
        var text = Scalar(node, what);
        if (text is null)
        {
            return null;
        }

        if (bool.TryParse(text, out var value))
        {
            return value;
        }

        Error(DiagnosticCodes.RecipeWrongType, $"{what} must be true or false, not '{text}'.", node);
        return null;
    }

    public int? Int(YamlNode node, string what, double? minimum, double? maximum)
    {
        var text = Scalar(node, what);
        if (text is null)
        {
            return null;
        }

        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
        {
            Error(DiagnosticCodes.RecipeWrongType, $"{what} must be an integer, not '{text}'.", node);
            return null;
        }

        return CheckRange(value, node, what, minimum ?? int.MinValue, maximum ?? int.MaxValue) ? (int)value : null;
    }

    public double? Float(YamlNode node, string what, double? minimum, double? maximum)
    {
        var text = Scalar(node, what);
        if (text is null)
        {
            return null;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            Error(DiagnosticCodes.RecipeWrongType, $"{what} must be a number, not '{text}'.", node);
            return null;
        }

        return CheckRange(value, node, what, minimum, maximum) ? value : null;
    }

    /// <summary>A fraction in [0, 1], written as a number (<c>0.25</c>) or a percentage (<c>25%</c>).</summary>
    public double? Ratio(YamlNode node, string what)
    {
        var text = Scalar(node, what);
        if (text is null)
        {
            return null;
        }

        var percent = text.EndsWith('%');
        var number = percent ? text[..^1].TrimEnd() : text;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            Error(DiagnosticCodes.RecipeWrongType, $"{what} must be a fraction (0.25) or a percentage (25%), not '{text}'.", node);
            return null;
        }

        if (percent ? value is < 0 or > 100 : value is < 0 or > 1)
        {
            Error(DiagnosticCodes.RecipeValueOutOfRange, $"{what} is {text}; it must lie in {(percent ? "0%..100%" : "0..1")}.", node);
            return null;
        }

        return percent ? value / 100 : value;
    }

    public IReadOnlyList<string>? StringList(YamlNode node, string what)
    {
        if (node is not YamlSequenceNode sequence)
        {
            Error(DiagnosticCodes.RecipeWrongType, $"{what} must be a list such as [a, b], not {Describe(node)}.", node);
            return null;
        }

        var items = new List<string>();
        var ok = true;
        foreach (var item in sequence.Children)
        {
            var text = Scalar(item, $"Each item of {what}");
            ok &= text is not null;
            items.Add(text ?? "");
        }

        return ok ? items : null;
    }

    /// <summary>Converts <paramref name="node"/> to the CLR value <see cref="PassArguments"/> expects for <paramref name="spec"/>.</summary>
    public string? Enum(YamlNode node, string what, IReadOnlyList<string> allowed)
    {
        var text = Scalar(node, what);
        if (text is null || allowed.Contains(text, StringComparer.Ordinal))
        {
            return text;
        }

        Error(DiagnosticCodes.RecipeInvalidEnumValue,
            $"{what} cannot be '{text}'.{NameSuggestions.DidYouMean(text, allowed)} Allowed values: {string.Join(", ", allowed)}.",
            node);
        return null;
    }

    public object? Parameter(ParameterSpec spec, YamlNode node, string passName)
    {
        var what = $"'{passName}' parameter '{spec.Name}'";
        switch (spec.Type)
        {
            case ParameterType.Bool: return Bool(node, what);
            case ParameterType.Int: return Int(node, what, spec.Minimum, spec.Maximum);
            case ParameterType.Float: return Float(node, what, spec.Minimum, spec.Maximum);
            case ParameterType.Ratio: return Ratio(node, what);
            case ParameterType.String: return Scalar(node, what);
            case ParameterType.StringList: return StringList(node, what);
            case ParameterType.Enum: return Enum(node, what, spec.AllowedValues);
            default:
                throw new InvalidOperationException($"Unhandled parameter type {spec.Type}.");
        }
    }

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ when IsNull(node) => "an empty value",
        YamlScalarNode s => $"'{s.Value}'",
        _ => "an alias",
    };

    private bool CheckRange(double value, YamlNode node, string what, double? minimum, double? maximum)
    {
        if (value < minimum || value > maximum)
        {
            var range = (minimum, maximum) switch
            {
                (null, _) => $"at most {Format(maximum)}",
                (_, null) => $"at least {Format(minimum)}",
                _ => $"between {Format(minimum)} and {Format(maximum)}",
            };
            Error(DiagnosticCodes.RecipeValueOutOfRange, $"{what} is {Format(value)}; it must be {range}.", node);
            return false;
        }

        return true;
    }

    private static string Format(double? value) => value?.ToString("R", CultureInfo.InvariantCulture) ?? "";
}
