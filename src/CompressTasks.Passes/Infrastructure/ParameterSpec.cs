using System.Globalization;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// Declares one parameter of a pass: its kebab-case recipe key, type, default and limits. The default is
/// stored as the CLR value <see cref="PassArguments"/> hands out: <see cref="bool"/>, <see cref="int"/>,
/// <see cref="double"/> (Float and Ratio), <see cref="string"/> (String and Enum) or
/// <see cref="IReadOnlyList{T}"/> of <see cref="string"/>. Create instances with the static factories.
/// </summary>
public sealed class ParameterSpec
{
    private ParameterSpec(string name, ParameterType type, object defaultValue, string doc,
        double? minimum = null, double? maximum = null, IReadOnlyList<string>? allowedValues = null)
    {
        if (!PassDescriptor.IsKebabCase(name))
        {
            throw new ArgumentException($"Parameter name '{name}' is not kebab-case.", nameof(name));
        }

        Name = name;
        Type = type;
        Default = defaultValue;
        Doc = doc;
        Minimum = minimum;
        Maximum = maximum;
        AllowedValues = allowedValues ?? [];
    }

    /// <summary>The recipe key, kebab-case (e.g. <c>per-channel</c>).</summary>
    public string Name { get; }

    /// <summary>The value type.</summary>
    public ParameterType Type { get; }

    /// <summary>The value used when the recipe does not set the parameter; never null.</summary>
    public object Default { get; }

    /// <summary>One line of documentation, shown in docs and as the schema description.</summary>
    public string Doc { get; }

    /// <summary>Inclusive lower bound for Int and Float (Ratio is always [0, 1]).</summary>
    public double? Minimum { get; }

    /// <summary>Inclusive upper bound for Int and Float.</summary>
    public double? Maximum { get; }

    /// <summary>The valid values of an Enum parameter, in documentation order; empty otherwise.</summary>
    public IReadOnlyList<string> AllowedValues { get; }

    /// <summary>Declares a boolean parameter.</summary>
    public static ParameterSpec Bool(string name, bool defaultValue, string doc) => new(name, ParameterType.Bool, defaultValue, doc);

    /// <summary>Declares an integer parameter with optional inclusive bounds.</summary>
    public static ParameterSpec Int(string name, int defaultValue, string doc, int? minimum = null, int? maximum = null)
    {
        CheckRange(name, defaultValue, minimum, maximum);
        return new(name, ParameterType.Int, defaultValue, doc, minimum, maximum);
    }

    /// <summary>Declares a floating-point parameter with optional inclusive bounds.</summary>
    public static ParameterSpec Float(string name, double defaultValue, string doc, double? minimum = null, double? maximum = null)
    {
        CheckRange(name, defaultValue, minimum, maximum);
        return new(name, ParameterType.Float, defaultValue, doc, minimum, maximum);
    }

    /// <summary>Declares a free-text parameter.</summary>
    public static ParameterSpec String(string name, string defaultValue, string doc) => new(name, ParameterType.String, defaultValue, doc);

    /// <summary>Declares a parameter whose value must be one of <paramref name="allowedValues"/>.</summary>
    public static ParameterSpec Enum(string name, string defaultValue, IReadOnlyList<string> allowedValues, string doc)
    {
        if (!allowedValues.Contains(defaultValue, StringComparer.Ordinal))
        {
            throw new ArgumentException($"Default '{defaultValue}' of '{name}' is not one of its allowed values.", nameof(defaultValue));
        }

        return new(name, ParameterType.Enum, defaultValue, doc, allowedValues: allowedValues);
    }

    /// <summary>Declares a list-of-strings parameter; the default is empty unless given.</summary>
    public static ParameterSpec StringList(string name, string doc, IReadOnlyList<string>? defaultValue = null) =>
        new(name, ParameterType.StringList, defaultValue ?? [], doc);

    /// <summary>Declares a fraction in [0, 1] (written as <c>0.5</c> or <c>"50%"</c> in recipes).</summary>
    public static ParameterSpec Ratio(string name, double defaultValue, string doc)
    {
        CheckRange(name, defaultValue, 0, 1);
        return new(name, ParameterType.Ratio, defaultValue, doc, 0, 1);
    }

    /// <summary>The default formatted as it would be written in a recipe (<c>true</c>, <c>0.5</c>, <c>[a, b]</c>).</summary>
    public string FormatDefault() => Default switch
    {
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IReadOnlyList<string> list => "[" + string.Join(", ", list) + "]",
        _ => Default.ToString() ?? "",
    };

    private static void CheckRange(string name, double value, double? minimum, double? maximum)
    {
        if (value < minimum || value > maximum)
        {
            throw new ArgumentOutOfRangeException(name, value, $"Default of '{name}' lies outside [{minimum}, {maximum}].");
        }
    }
}
