using CompressTasks.Model.Onnx;

namespace CompressTasks.Graphs;

/// <summary>
/// A value (a tensor name) as seen from one graph. A lightweight view computed from the graph's indexes on
/// each access, so it never goes stale; get a fresh one with <see cref="Graph.GetValue"/> whenever needed.
/// </summary>
public sealed class Value
{
    internal Value(Graph scope, string name)
    {
        Scope = scope;
        Name = name;
    }

    /// <summary>The graph the value is seen from.</summary>
    public Graph Scope { get; }

    /// <summary>The value's name.</summary>
    public string Name { get; }

    /// <summary>The graph that defines the value (this one or an enclosing one), or null when nothing does.</summary>
    public Graph? DefiningGraph => Scope.Resolve(Name);

    /// <summary>Whether the value comes from an enclosing graph.</summary>
    public bool IsOuterScope => DefiningGraph is { } g && g != Scope;

    /// <summary>The node producing the value, or null for inputs, initializers and undefined names.</summary>
    public Node? Producer => DefiningGraph?.GetProducer(Name);

    /// <summary>Every node input reading the value, at any depth below its defining graph.</summary>
    public List<NodeInput> Consumers => (DefiningGraph ?? Scope).GetConsumers(Name);

    /// <summary>How many node inputs read the value (more than one means a shared value).</summary>
    public int UseCount => (DefiningGraph ?? Scope).UseCount(Name);

    /// <summary>Whether the value is an input of its defining graph.</summary>
    public bool IsGraphInput => DefiningGraph?.IsGraphInput(Name) ?? false;

    /// <summary>Whether the value's name must stay (it is returned as a graph output); see <see cref="Graph.MustKeepName"/>.</summary>
    public bool MustKeepName => (DefiningGraph ?? Scope).MustKeepName(Name);

    /// <summary>Whether the value is an initializer of its defining graph.</summary>
    public bool IsInitializer => DefiningGraph?.GetInitializer(Name) is not null;

    /// <summary>The value as a constant (initializer or Constant node, local or outer), or null.</summary>
    public Constant? Constant => Scope.TryGetConstant(Name);

    /// <summary>The declared type and shape: from graph inputs, outputs or value_info, searching outwards; null if undeclared.</summary>
    public ValueInfoProto? Info
    {
        get
        {
            for (var g = Scope; g is not null; g = g.Parent)
            {
                if ((Find(g.Proto.Input) ?? Find(g.Proto.Output) ?? Find(g.Proto.ValueInfo)) is { } info) return info;
                if (g.DefinesLocally(Name)) break;
            }
            return null;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    private ValueInfoProto? Find(IReadOnlyList<ValueInfoProto> list)
    {
        foreach (var v in list)
            if (v.Name == Name) return v;
        return null;
    }
}
