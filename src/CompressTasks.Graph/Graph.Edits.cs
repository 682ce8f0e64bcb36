using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Graphs;

// Node edits: every method keeps the protobuf node list and the indexes in step.
public sealed partial class Graph
{
    /// <summary>Appends <paramref name="proto"/> at the end of the node list and returns its node.</summary>
    public Node AddNode(NodeProto proto) => Insert(_nodes.Count, proto);

    /// <summary>Inserts <paramref name="proto"/> just before <paramref name="anchor"/>.</summary>
    public Node InsertBefore(Node anchor, NodeProto proto) => Insert(PositionOf(anchor), proto);

    /// <summary>Inserts <paramref name="proto"/> just after <paramref name="anchor"/>.</summary>
    public Node InsertAfter(Node anchor, NodeProto proto) => Insert(PositionOf(anchor) + 1, proto);

    /// <summary>Inserts <paramref name="proto"/> at position <paramref name="index"/> of the node list.</summary>
    public Node Insert(int index, NodeProto proto)
    {
        ArgumentNullException.ThrowIfNull(proto);
        var node = new Node(this, proto);
        _nodes.Insert(index, node);
        Proto.Node.Insert(index, proto);
        Register(node);
        return node;
    }

    /// <summary>
    /// Creates a node of the default domain (or <paramref name="domain"/>) with a fresh name based on
    /// <paramref name="opType"/>, and inserts it before <paramref name="before"/> (or appends it when null).
    /// </summary>
    public Node CreateNode(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, Node? before = null, string domain = "")
    {
        var proto = new NodeProto { OpType = opType, Name = FreshName(opType) };
        if (domain.Length > 0) proto.Domain = domain;
        proto.Input.AddRange(inputs);
        proto.Output.AddRange(outputs);
        return before is null ? AddNode(proto) : InsertBefore(before, proto);
    }

    /// <summary>Removes <paramref name="node"/>. Its outputs lose their producer; readers are left to the caller.</summary>
    public void RemoveNode(Node node)
    {
        int at = PositionOf(node);
        _nodes.RemoveAt(at);
        Proto.Node.RemoveAt(at);
        Unregister(node);
    }

    /// <summary>Removes many nodes in one pass over the node list (linear, unlike repeated <see cref="RemoveNode"/>).</summary>
    public void RemoveNodes(IReadOnlyCollection<Node> nodes)
    {
        if (nodes.Count == 0) return;
        var doomed = new HashSet<Node>(nodes);
        foreach (var n in doomed)
            if (n.Graph != this) throw new ArgumentException($"node {n} is not in graph {Path}", nameof(nodes));
        int write = 0;
        for (int read = 0; read < _nodes.Count; read++)
        {
            var n = _nodes[read];
            if (doomed.Contains(n)) continue;
            _nodes[write] = n;
            Proto.Node[write] = n.Proto;
            write++;
        }
        int count = _nodes.Count;
        _nodes.RemoveRange(write, count - write);
        for (int i = count - 1; i >= write; i--) Proto.Node.RemoveAt(i);
        foreach (var n in doomed) Unregister(n, doomed);
    }

    /// <summary>Replaces <paramref name="old"/> by <paramref name="replacement"/> at the same position and returns the new node.</summary>
    public Node ReplaceNode(Node old, NodeProto replacement)
    {
        int at = PositionOf(old);
        RemoveNode(old);
        return Insert(at, replacement);
    }

    /// <summary>
    /// Makes every reader of <paramref name="oldName"/> (at any depth, where not shadowed) read
    /// <paramref name="newName"/> instead, and returns how many inputs changed. Graph outputs are never renamed:
    /// when <see cref="MustKeepName"/> is true for <paramref name="oldName"/> the caller must keep its producer.
    /// Throws CT0202 when a subgraph that reads the old name defines <paramref name="newName"/> itself, since the
    /// rewritten read would then see a different value. <paramref name="except"/> keeps its reads: typically the
    /// node just inserted to compute <paramref name="newName"/> from <paramref name="oldName"/>.
    /// </summary>
    public int ReplaceAllUses(string oldName, string newName, Node? except = null)
    {
        if (oldName == newName || oldName.Length == 0) return 0;
        var uses = GetConsumers(oldName);
        if (except is not null) uses.RemoveAll(u => u.Node == except);
        var target = Resolve(newName);
        foreach (var use in uses)
        {
            var g = use.Node.Graph!;
            if (g != this && g.Resolve(newName) != target)
                throw new CompressTasksException(DiagnosticCodes.NameShadowed,
                    $"cannot replace '{oldName}' by '{newName}': subgraph {g.Path} defines its own '{newName}'", Model.SourcePath);
        }
        foreach (var use in uses) use.Node.SetInput(use.Index, newName);
        return uses.Count;
    }

    /// <summary>The position of <paramref name="node"/> in the node list.</summary>
    public int PositionOf(Node node)
    {
        if (node.Graph != this) throw new ArgumentException($"node {node} is not in graph {Path}", nameof(node));
        return _nodes.IndexOf(node);
    }
}
