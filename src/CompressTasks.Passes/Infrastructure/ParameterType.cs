namespace CompressTasks.Passes.Infrastructure;

/// <summary>The value type of a pass parameter, as written in a recipe.</summary>
public enum ParameterType
{
    /// <summary><c>true</c> or <c>false</c>.</summary>
    Bool,

    /// <summary>A 32-bit integer, optionally bounded by <see cref="ParameterSpec.Minimum"/>/<see cref="ParameterSpec.Maximum"/>.</summary>
    Int,

    /// <summary>A finite floating-point number, optionally bounded.</summary>
    Float,

    /// <summary>Any text.</summary>
    String,

    /// <summary>One of <see cref="ParameterSpec.AllowedValues"/> (kebab-case).</summary>
    Enum,

    /// <summary>A list of strings, e.g. op types or node names.</summary>
    StringList,

    /// <summary>A fraction in [0, 1], written either as a number (<c>0.5</c>) or a percentage (<c>"50%"</c>).</summary>
    Ratio,
}
