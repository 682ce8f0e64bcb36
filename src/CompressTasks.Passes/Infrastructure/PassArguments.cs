namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// The validated, typed parameters of one pass entry in a recipe. Values the recipe set are kept in
/// <see cref="Explicit"/>; the getters fall back to the declared defaults. Asking for an undeclared
/// parameter, or with the wrong type, is a programming error and throws.
/// </summary>
public sealed class PassArguments : IEquatable<PassArguments>
{
    private readonly Dictionary<string, object> _explicit;

    /// <summary>
    /// Creates the bag. <paramref name="values"/> must use declared names and the CLR types described on
    /// <see cref="ParameterSpec"/>; the recipe loader has already checked ranges and enum values.
    /// </summary>
    public PassArguments(PassDescriptor pass, IEnumerable<KeyValuePair<string, object>>? values = null)
    {
        Pass = pass;
        _explicit = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (name, value) in values ?? [])
        {
            var spec = Spec(name);
            if (!IsClrTypeOf(spec.Type, value))
            {
                throw new ArgumentException($"Value for '{pass.Name}.{name}' is a {value.GetType().Name}, not a {spec.Type}.", nameof(values));
            }

            _explicit[name] = value is IReadOnlyList<string> list ? list.ToArray() : value;
        }
    }

    /// <summary>The pass these arguments are for.</summary>
    public PassDescriptor Pass { get; }

    /// <summary>The values the recipe set, in declaration order (defaults not included).</summary>
    public IReadOnlyList<KeyValuePair<string, object>> Explicit =>
        [.. Pass.Parameters.Where(p => _explicit.ContainsKey(p.Name)).Select(p => new KeyValuePair<string, object>(p.Name, _explicit[p.Name]))];

    /// <summary>True when the recipe set <paramref name="name"/>.</summary>
    public bool IsExplicit(string name) => _explicit.ContainsKey(name);

    /// <summary>A Bool parameter.</summary>
    public bool GetBool(string name) => Get<bool>(name, ParameterType.Bool);

    /// <summary>An Int parameter.</summary>
    public int GetInt(string name) => Get<int>(name, ParameterType.Int);

    /// <summary>A Float or Ratio parameter (a ratio is a fraction in [0, 1]: <c>"50%"</c> gives 0.5).</summary>
    public double GetDouble(string name) => Get<double>(name, ParameterType.Float, ParameterType.Ratio);

    /// <summary>A String or Enum parameter.</summary>
    public string GetString(string name) => Get<string>(name, ParameterType.String, ParameterType.Enum);

    /// <summary>An Enum parameter mapped onto <typeparamref name="TEnum"/>: <c>per-channel</c> matches <c>PerChannel</c>.</summary>
    public TEnum GetEnum<TEnum>(string name) where TEnum : struct, Enum
    {
        var text = Get<string>(name, ParameterType.Enum);
        var flat = text.Replace("-", "", StringComparison.Ordinal);
        return System.Enum.TryParse<TEnum>(flat, ignoreCase: true, out var value) && System.Enum.IsDefined(value)
            ? value
            : throw new InvalidOperationException($"'{Pass.Name}.{name}' value '{text}' has no member in {typeof(TEnum).Name}.");
    }

    /// <summary>A StringList parameter.</summary>
    public IReadOnlyList<string> GetStringList(string name) => Get<IReadOnlyList<string>>(name, ParameterType.StringList);

    /// <inheritdoc/>
    public bool Equals(PassArguments? other) =>
        other is not null
        && other.Pass.Name == Pass.Name
        && other._explicit.Count == _explicit.Count
        && _explicit.All(kv => other._explicit.TryGetValue(kv.Key, out var v) && ValueEquals(kv.Value, v));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as PassArguments);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Pass.Name, _explicit.Count);

    /// <inheritdoc/>
    public override string ToString() =>
        Pass.Name + "(" + string.Join(", ", Explicit.Select(kv => $"{kv.Key}={Format(kv.Value)}")) + ")";

    private T Get<T>(string name, params ParameterType[] types)
    {
        var spec = Spec(name);
        if (!types.Contains(spec.Type))
        {
            throw new InvalidOperationException($"'{Pass.Name}.{name}' is a {spec.Type} parameter, not {string.Join(" or ", types)}.");
        }

        return (T)(_explicit.TryGetValue(name, out var value) ? value : spec.Default);
    }

    private ParameterSpec Spec(string name) =>
        Pass.FindParameter(name) ?? throw new ArgumentException(
            $"Pass '{Pass.Name}' has no parameter '{name}'. Parameters: {string.Join(", ", Pass.Parameters.Select(p => p.Name))}.", nameof(name));

    private static bool IsClrTypeOf(ParameterType type, object value) => type switch
    {
        ParameterType.Bool => value is bool,
        ParameterType.Int => value is int,
        ParameterType.Float or ParameterType.Ratio => value is double,
        ParameterType.String or ParameterType.Enum => value is string,
        ParameterType.StringList => value is IReadOnlyList<string>,
        _ => false,
    };

    /// <summary>Whether two parameter values are equal (lists by content).</summary>
    public static bool ValueEquals(object a, object b) =>
        a is IReadOnlyList<string> la && b is IReadOnlyList<string> lb ? la.SequenceEqual(lb, StringComparer.Ordinal) : a.Equals(b);

    private static string Format(object value) => value is IReadOnlyList<string> list ? "[" + string.Join(", ", list) + "]" : value.ToString() ?? "";
}
