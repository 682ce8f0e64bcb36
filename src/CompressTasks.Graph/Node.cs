using CompressTasks.Model.Onnx;
using Google.Protobuf.Collections;

namespace CompressTasks.Graphs;

/// <summary>
/// One node of a <see cref="Graph"/>: a view over its <see cref="NodeProto"/>. Inputs and outputs are changed only
/// through this class, so the graph's producer and consumer indexes stay right after every edit.
/// </summary>
public sealed class Node
{
    private readonly List<Graph> _subgraphs = [];

    internal Node(Graph graph, NodeProto proto)
    {
        Graph = graph;
        Proto = proto;
    }

    /// <summary>The graph this node belongs to (null once it has been removed).</summary>
    public Graph? Graph { get; internal set; }

    /// <summary>
    /// The protobuf node. Read it freely and edit attributes, but change inputs and outputs only through
    /// <see cref="SetInput"/>, <see cref="SetOutput"/> and friends, or the graph's indexes go stale.
    /// </summary>
    public NodeProto Proto { get; }

    /// <summary>The node's name (may be empty; use <see cref="Graph.FreshName"/> for new ones).</summary>
    public string Name { get => Proto.Name; set => Proto.Name = value; }

    /// <summary>The operator, e.g. <c>Conv</c>.</summary>
    public string OpType => Proto.OpType;

    /// <summary>The operator's domain; empty for the default ONNX domain.</summary>
    public string Domain => Proto.Domain;

    /// <summary>Input value names in order; an empty name is an omitted optional input.</summary>
    public IReadOnlyList<string> Inputs => Proto.Input;

    /// <summary>Output value names in order; an empty name is an omitted optional output.</summary>
    public IReadOnlyList<string> Outputs => Proto.Output;

    /// <summary>The bodies held in this node's graph attributes (If branches, Loop/Scan bodies), in attribute order.</summary>
    public IReadOnlyList<Graph> Subgraphs => _subgraphs;

    internal List<Graph> SubgraphList => _subgraphs;

    /// <summary>Whether this is a node of the default domain with the given operator.</summary>
    public bool Is(string opType) => Proto.OpType == opType && Graph.IsDefaultDomain(Proto.Domain);

    /// <summary>The imported version of this node's operator set, or null when the model does not import it.</summary>
    public long? OpsetVersion => Graph?.GetOpsetVersion(Proto.Domain);

    /// <summary>Sets input <paramref name="index"/> to <paramref name="name"/>, updating the consumer index.</summary>
    public void SetInput(int index, string name)
    {
        var old = Proto.Input[index];
        if (old == name) return;
        Graph?.RemoveUse(old, this, index);
        Proto.Input[index] = name;
        Graph?.AddUse(name, this, index);
    }

    /// <summary>Appends an input.</summary>
    public void AddInput(string name)
    {
        Proto.Input.Add(name);
        Graph?.AddUse(name, this, Proto.Input.Count - 1);
    }

    /// <summary>Removes input <paramref name="index"/>; later inputs move down by one.</summary>
    public void RemoveInput(int index)
    {
        ReindexInputs(() => Proto.Input.RemoveAt(index));
    }

    /// <summary>Sets output <paramref name="index"/> to <paramref name="name"/>, updating the producer index.</summary>
    public void SetOutput(int index, string name)
    {
        var old = Proto.Output[index];
        if (old == name) return;
        Graph?.RemoveProducer(old, this);
        Proto.Output[index] = name;
        Graph?.AddProducer(name, this);
    }

    /// <summary>Appends an output.</summary>
    public void AddOutput(string name)
    {
        Proto.Output.Add(name);
        Graph?.AddProducer(name, this);
    }

    /// <summary>Removes trailing output <paramref name="index"/> (ONNX outputs are positional, so only trailing ones can go).</summary>
    public void RemoveOutput(int index)
    {
        Graph?.RemoveProducer(Proto.Output[index], this);
        Proto.Output.RemoveAt(index);
    }

    /// <summary>The attribute of that name, or null.</summary>
    public AttributeProto? FindAttribute(string name)
    {
        foreach (var a in Proto.Attribute)
            if (a.Name == name) return a;
        return null;
    }

    /// <summary>An INT attribute, or <paramref name="fallback"/> when absent.</summary>
    public long GetInt(string name, long fallback) => FindAttribute(name) is { } a ? a.I : fallback;

    /// <summary>A FLOAT attribute, or <paramref name="fallback"/> when absent.</summary>
    public float GetFloat(string name, float fallback) => FindAttribute(name) is { } a ? a.F : fallback;

    /// <summary>A STRING attribute decoded as UTF-8, or <paramref name="fallback"/> when absent.</summary>
    public string? GetString(string name, string? fallback = null) => FindAttribute(name) is { } a ? a.S.ToStringUtf8() : fallback;

    /// <summary>An INTS attribute, or null when absent.</summary>
    public RepeatedField<long>? GetInts(string name) => FindAttribute(name)?.Ints;

    /// <inheritdoc/>
    public override string ToString() => $"{OpType} '{Name}'";

    // Input positions shift on removal, so the uses of every input are dropped and re-added.
    private void ReindexInputs(Action edit)
    {
        var g = Graph;
        for (int i = 0; i < Proto.Input.Count; i++) g?.RemoveUse(Proto.Input[i], this, i);
        edit();
        for (int i = 0; i < Proto.Input.Count; i++) g?.AddUse(Proto.Input[i], this, i);
    }
}
