using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using Google.Protobuf;
using AttributeType = CompressTasks.Model.Onnx.AttributeProto.Types.AttributeType;

namespace CompressTasks.Passes.Versioning;

/// <summary>Small node edits the opset adapters share: attributes in and out, attributes turned into constant inputs.</summary>
internal static class AdapterEdits
{
    /// <summary>Removes the named attributes where present.</summary>
    public static void Drop(Node node, params string[] names)
    {
        foreach (var name in names) Take(node, name);
    }

    /// <summary>Removes and returns the attribute <paramref name="name"/>, or null when absent.</summary>
    public static AttributeProto? Take(Node node, string name)
    {
        var a = node.FindAttribute(name);
        if (a is not null) node.Proto.Attribute.Remove(a);
        return a;
    }

    public static void SetInt(Node node, string name, long value)
    {
        Drop(node, name);
        node.Proto.Attribute.Add(new AttributeProto { Name = name, Type = AttributeType.Int, I = value });
    }

    public static void SetString(Node node, string name, string value)
    {
        Drop(node, name);
        node.Proto.Attribute.Add(new AttributeProto { Name = name, Type = AttributeType.String, S = ByteString.CopyFromUtf8(value) });
    }

    /// <summary>Sets input <paramref name="index"/>, first filling skipped optional inputs with "".</summary>
    public static void SetInputAt(Node node, int index, string name)
    {
        while (node.Inputs.Count <= index) node.AddInput("");
        node.SetInput(index, name);
    }

    /// <summary>A new int64 1-D constant for <paramref name="node"/>; returns its name.</summary>
    public static string Int64s(Node node, string hint, long[] values) =>
        AddConstant(node, hint, 7, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>A new float32 1-D constant for <paramref name="node"/>; returns its name.</summary>
    public static string Floats(Node node, string hint, float[] values) =>
        AddConstant(node, hint, 1, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>A new scalar constant of float type <paramref name="type"/> (float, float16 or double).</summary>
    public static string Scalar(Node node, string hint, int type, float value)
    {
        byte[] bytes = type switch
        {
            10 => BitConverter.GetBytes((Half)value),
            11 => BitConverter.GetBytes((double)value),
            _ => BitConverter.GetBytes(value),
        };
        return AddConstant(node, hint, type is 10 or 11 ? type : 1, [], bytes);
    }

    /// <summary>
    /// Adds a constant the node can read: an initializer in the main graph, a Constant node just before the node in
    /// a subgraph (a new initializer there would, before IR 4, have to become a subgraph input and change the body's signature).
    /// </summary>
    public static string AddConstant(Node node, string hint, int type, long[] dims, byte[] bytes)
    {
        var graph = node.Graph!;
        string nameHint = (node.Name.Length > 0 ? node.Name : node.OpType) + "_" + hint;
        if (graph.Parent is null) return Weights.Add(graph, nameHint, type, dims, bytes).Name;
        var tensor = new TensorProto { DataType = type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.Add(dims);
        string name = graph.FreshName(nameHint);
        var constant = new NodeProto { OpType = "Constant", Name = graph.FreshName(nameHint + "_Constant") };
        constant.Output.Add(name);
        constant.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeType.Tensor, T = tensor });
        graph.InsertBefore(node, constant);
        return name;
    }
}
