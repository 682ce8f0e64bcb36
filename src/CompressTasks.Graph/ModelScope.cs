using CompressTasks.Model;

namespace CompressTasks.Graphs;

/// <summary>What every graph of one model shares: the model, and the set of names taken anywhere in it.</summary>
internal sealed class ModelScope(OnnxModel model)
{
    // Values, nodes and initializers share one set: names only need to be unique for us, and one set
    // keeps a fresh value name from shadowing a name in any subgraph.
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _nextSuffix = new(StringComparer.Ordinal);

    public OnnxModel Model { get; } = model;

    public void Take(string name)
    {
        if (name.Length > 0) _names.Add(name);
    }

    public bool IsTaken(string name) => _names.Contains(name);

    public string Fresh(string prefix)
    {
        if (prefix.Length == 0) prefix = "v";
        if (_names.Add(prefix)) return prefix;
        // Remember the last suffix per prefix so that minting many names is linear, not quadratic.
        _nextSuffix.TryGetValue(prefix, out int n);
        string name;
        do name = $"{prefix}_{++n}"; while (!_names.Add(name));
        _nextSuffix[prefix] = n;
        return name;
    }
}
