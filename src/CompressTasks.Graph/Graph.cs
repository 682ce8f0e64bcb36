using CompressTasks.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Graphs;

/// <summary>
/// An editable view over one <see cref="GraphProto"/> of a model: the main graph or a subgraph (an If branch, a
/// Loop or Scan body). Producer and consumer indexes are built once and kept right by every edit made through
/// the IR (<see cref="Node"/>'s input/output setters, the insert/remove/replace methods), so passes can ask
/// "who reads this value" in constant time. Consumers include reads from nested subgraphs of outer-scope names.
/// </summary>
public sealed partial class Graph
{
    private readonly ModelScope _scope;
    private readonly List<Node> _nodes;
    private readonly Dictionary<string, Node> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<NodeInput>> _uses = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TensorProto> _initializers = new(StringComparer.Ordinal);
    // Nodes that hold subgraphs: the only places a nested read of an outer name can hide.
    private readonly List<Node> _owners = [];
    // Names produced by more than one node (invalid, but a pass may pass through that state): while there are
    // none, removing a producer never has to look for another one.
    private int _duplicateProducers;

    private Graph(ModelScope scope, GraphProto proto, Graph? parent, Node? owner, string ownerAttribute)
    {
        _scope = scope;
        Proto = proto;
        Parent = parent;
        OwnerNode = owner;
        OwnerAttribute = ownerAttribute;
        foreach (var t in proto.Initializer)
        {
            _initializers.TryAdd(t.Name, t);
            scope.Take(t.Name);
        }
        foreach (var s in proto.SparseInitializer) scope.Take(s.Values?.Name ?? "");
        foreach (var v in proto.Input) scope.Take(v.Name);
        foreach (var v in proto.Output) scope.Take(v.Name);
        foreach (var v in proto.ValueInfo) scope.Take(v.Name);
        _nodes = new List<Node>(proto.Node.Count);
        foreach (var n in proto.Node)
        {
            var node = new Node(this, n);
            _nodes.Add(node);
            Register(node);
        }
    }

    /// <summary>
    /// Opens the main graph of <paramref name="model"/> and, recursively, every subgraph. Opening does not change
    /// the model, so saving it afterwards writes the same bytes. Open a model once and make every edit through that
    /// view: a second view would not see the first one's edits in its indexes.
    /// </summary>
    public static Graph Open(OnnxModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var proto = model.Proto.Graph ?? throw new CompressTasksException(DiagnosticCodes.ModelMalformed,
            "not a valid ONNX model: it has no graph", model.SourcePath);
        return new Graph(new ModelScope(model), proto, null, null, "");
    }

    /// <summary>The protobuf graph. Edit nodes through this class; lists not indexed here (value_info, metadata) are free to edit.</summary>
    public GraphProto Proto { get; }

    /// <summary>The model this graph belongs to.</summary>
    public OnnxModel Model => _scope.Model;

    /// <summary>The enclosing graph of a subgraph; null for the main graph.</summary>
    public Graph? Parent { get; }

    /// <summary>The node whose attribute holds this subgraph (If, Loop, Scan); null for the main graph.</summary>
    public Node? OwnerNode { get; }

    /// <summary>The attribute of <see cref="OwnerNode"/> holding this subgraph (e.g. <c>then_branch</c>, <c>body</c>); empty for the main graph.</summary>
    public string OwnerAttribute { get; }

    /// <summary>The main graph of the model.</summary>
    public Graph Root => Parent?.Root ?? this;

    /// <summary>The graph's name.</summary>
    public string Name => Proto.Name;

    /// <summary>The nodes, in the order of the protobuf list.</summary>
    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>Graph inputs. Their names never change through the IR.</summary>
    public IReadOnlyList<ValueInfoProto> Inputs => Proto.Input;

    /// <summary>Graph outputs. Their names never change through the IR.</summary>
    public IReadOnlyList<ValueInfoProto> Outputs => Proto.Output;

    /// <summary>Type and shape annotations of intermediate values.</summary>
    public IReadOnlyList<ValueInfoProto> ValueInfo => Proto.ValueInfo;

    /// <summary>The initializers of this graph (not of enclosing graphs).</summary>
    public IReadOnlyList<TensorProto> Initializers => Proto.Initializer;

    /// <summary>The subgraphs directly held by this graph's nodes.</summary>
    public IEnumerable<Graph> Subgraphs
    {
        get
        {
            foreach (var owner in _owners)
                foreach (var g in owner.SubgraphList) yield return g;
        }
    }

    /// <summary>This graph and every subgraph at any depth, parents before children.</summary>
    public IEnumerable<Graph> SelfAndDescendants()
    {
        yield return this;
        foreach (var s in Subgraphs)
            foreach (var g in s.SelfAndDescendants()) yield return g;
    }

    /// <summary>Nesting depth: 0 for the main graph.</summary>
    public int Depth => Parent is null ? 0 : Parent.Depth + 1;

    /// <summary>A readable path for messages, e.g. <c>main/If 'n1'.then_branch</c>.</summary>
    public string Path => Parent is null ? (Name.Length > 0 ? Name : "main") : $"{Parent.Path}/{OwnerNode}.{OwnerAttribute}";

    /// <summary>Whether <paramref name="domain"/> names the default ONNX operator set ("" or "ai.onnx").</summary>
    public static bool IsDefaultDomain(string domain) => domain.Length == 0 || domain == "ai.onnx";

    /// <summary>The imported version of an operator set (""/"ai.onnx" are the same), or null when not imported.</summary>
    public long? GetOpsetVersion(string domain)
    {
        bool wantDefault = IsDefaultDomain(domain);
        foreach (var o in Model.Proto.OpsetImport)
            if (wantDefault ? IsDefaultDomain(o.Domain) : o.Domain == domain) return o.Version;
        return null;
    }

    /// <summary>The node producing <paramref name="name"/> in this graph, or null.</summary>
    public Node? GetProducer(string name) => _producers.GetValueOrDefault(name);

    /// <summary>
    /// Every node input that reads <paramref name="name"/> as defined in (or visible to) this graph: reads by this
    /// graph's nodes plus reads inside nested subgraphs that do not shadow the name.
    /// </summary>
    public List<NodeInput> GetConsumers(string name)
    {
        var result = new List<NodeInput>();
        CollectConsumers(name, result);
        return result;
    }

    /// <summary>How many node inputs at any depth read <paramref name="name"/> (see <see cref="GetConsumers"/>).</summary>
    public int UseCount(string name)
    {
        int n = _uses.TryGetValue(name, out var local) ? local.Count : 0;
        foreach (var owner in _owners)
            foreach (var s in owner.SubgraphList)
                if (!s.DefinesLocally(name)) n += s.UseCount(name);
        return n;
    }

    /// <summary>The initializer of this graph with that name, or null (see <see cref="GetConstant"/> for any constant).</summary>
    public TensorProto? GetInitializer(string name) => _initializers.GetValueOrDefault(name);

    /// <summary>Whether <paramref name="name"/> is an input of this graph.</summary>
    public bool IsGraphInput(string name) => IndexOf(Proto.Input, name) >= 0;

    /// <summary>Whether <paramref name="name"/> is an output of this graph.</summary>
    public bool IsGraphOutput(string name) => IndexOf(Proto.Output, name) >= 0;

    /// <summary>
    /// Whether the name of <paramref name="name"/> must be kept: it is an output of this graph, or of a nested
    /// subgraph that returns the outer value directly. <see cref="ReplaceAllUses"/> leaves such outputs alone, so a
    /// pass that rewires the value's readers must keep its producer (or route an Identity to it).
    /// </summary>
    public bool MustKeepName(string name)
    {
        if (IsGraphOutput(name)) return true;
        foreach (var owner in _owners)
            foreach (var s in owner.SubgraphList)
                if (!s.DefinesLocally(name) && s.MustKeepName(name)) return true;
        return false;
    }

    /// <summary>Whether this graph itself defines <paramref name="name"/> (node output, initializer or graph input).</summary>
    public bool DefinesLocally(string name) =>
        _producers.ContainsKey(name) || _initializers.ContainsKey(name) || IsGraphInput(name) || IsSparseInitializer(name);

    /// <summary>The graph whose definition of <paramref name="name"/> is visible here (this one or an enclosing one), or null.</summary>
    public Graph? Resolve(string name)
    {
        for (var g = this; g is not null; g = g.Parent)
            if (g.DefinesLocally(name)) return g;
        return null;
    }

    /// <summary>A view of the value <paramref name="name"/> as seen from this graph.</summary>
    public Value GetValue(string name) => new(this, name);

    /// <summary>A name not used anywhere in the model, starting with <paramref name="prefix"/>; it is reserved from now on.</summary>
    public string FreshName(string prefix) => _scope.Fresh(prefix);

    /// <summary>Whether <paramref name="name"/> is used anywhere in the model (values, nodes, initializers).</summary>
    public bool IsNameTaken(string name) => _scope.IsTaken(name);

    private void CollectConsumers(string name, List<NodeInput> result)
    {
        if (_uses.TryGetValue(name, out var local)) result.AddRange(local);
        foreach (var owner in _owners)
            foreach (var s in owner.SubgraphList)
                if (!s.DefinesLocally(name)) s.CollectConsumers(name, result);
    }

    private bool IsSparseInitializer(string name)
    {
        foreach (var s in Proto.SparseInitializer)
            if (s.Values?.Name == name) return true;
        return false;
    }

    private static int IndexOf(IReadOnlyList<ValueInfoProto> list, string name)
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i].Name == name) return i;
        return -1;
    }

    private static int IndexOf(IReadOnlyList<string> list, string name)
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i] == name) return i;
        return -1;
    }
}
