using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>Adding and dropping constants the way every IR version expects.</summary>
public static class Weights
{
    /// <summary>
    /// Adds an initializer. Before IR 4 every initializer must also be declared as a graph input, so one is
    /// declared for it there (the model's own weights already are).
    /// </summary>
    public static Constant Add(Graph graph, string nameHint, int dataType, ReadOnlySpan<long> dims, ReadOnlyMemory<byte> bytes)
    {
        var constant = graph.AddInitializer(nameHint, dataType, dims, bytes);
        if (graph.Model.Proto.IrVersion < 4)
        {
            var shape = new TensorShapeProto();
            foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
            graph.Proto.Input.Add(new ValueInfoProto
            {
                Name = constant.Name,
                Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = dataType, Shape = shape } },
            });
        }
        return constant;
    }

    /// <summary>
    /// Removes a constant nobody reads any more: its initializer (and, before IR 4, its graph-input declaration)
    /// or its Constant node. Returns false when it is still read, is a graph output, or is not a local constant.
    /// </summary>
    public static bool RemoveIfUnused(Graph graph, string name)
    {
        if (name.Length == 0 || graph.UseCount(name) > 0 || graph.MustKeepName(name)) return false;
        if (graph.GetInitializer(name) is not null)
        {
            bool isInput = graph.IsGraphInput(name);
            // From IR 4 on an initializer that is also a graph input is a user-overridable default: keep it.
            if (isInput && graph.Model.Proto.IrVersion >= 4) return false;
            RemoveInitializer(graph, name);
            return true;
        }
        if (graph.GetProducer(name) is { } node && node.Is("Constant"))
        {
            graph.RemoveNode(node);
            return true;
        }
        return false;
    }

    /// <summary>Drops <paramref name="constant"/> from the graph: its Constant node, or its initializer (<see cref="RemoveInitializer"/>).</summary>
    public static void Remove(Constant constant)
    {
        if (constant.Node is { } node) constant.Graph.RemoveNode(node);
        else RemoveInitializer(constant.Graph, constant.Name);
    }

    /// <summary>
    /// Replaces <paramref name="constant"/> by <c>DequantizeLinear(quantized, scale[, zeroPoint])</c> producing its
    /// name, where its Constant node stood (or first, for an initializer), so every reader is left as it was.
    /// </summary>
    public static void ReplaceWithDequantize(Constant constant, Constant quantized, Constant scale, Constant? zeroPoint, params AttributeProto[] attributes)
    {
        var graph = constant.Graph;
        string name = constant.Name;
        int at = constant.Node is { } node ? graph.PositionOf(node) : 0;
        Remove(constant);
        var dequantize = new NodeProto { OpType = "DequantizeLinear", Name = graph.FreshName(name + "_DequantizeLinear") };
        dequantize.Input.Add([quantized.Name, scale.Name]);
        if (zeroPoint is not null) dequantize.Input.Add(zeroPoint.Name);
        dequantize.Output.Add(name);
        dequantize.Attribute.Add(attributes);
        graph.Insert(at, dequantize);
    }

    /// <summary>
    /// Drops the initializer <paramref name="name"/> and, where it has one (before IR 4), its graph-input declaration:
    /// for a name nobody reads any more, or one a node is about to produce instead.
    /// </summary>
    public static void RemoveInitializer(Graph graph, string name)
    {
        graph.RemoveInitializer(name);
        for (int i = 0; i < graph.Proto.Input.Count; i++)
            if (graph.Proto.Input[i].Name == name) { graph.Proto.Input.RemoveAt(i); break; }
    }
}
