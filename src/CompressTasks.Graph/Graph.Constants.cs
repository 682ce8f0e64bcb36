using CompressTasks.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Graphs;

// Constants: initializers and Constant nodes, here or in an enclosing graph.
public sealed partial class Graph
{
    /// <summary>
    /// The constant named <paramref name="name"/> as seen from this graph: an initializer or <c>Constant</c> node
    /// here or in an enclosing graph; null when the value is computed, is a graph input, or is a Constant node with
    /// <c>sparse_value</c> (not supported). An initializer that is also a graph input can be overridden by the caller,
    /// so it is not constant, except in IR versions below 4 where every initializer had to be listed as an input.
    /// </summary>
    public Constant? TryGetConstant(string name)
    {
        if (name.Length == 0) return null;
        var owner = Resolve(name);
        if (owner is null) return null;
        if (owner._initializers.TryGetValue(name, out var tensor))
        {
            if (owner.IsGraphInput(name) && Model.Proto.IrVersion >= 4) return null;
            return new Constant(this, owner, name, tensor, null);
        }
        if (owner.GetProducer(name) is { } node && node.Is("Constant") && node.Outputs.Count == 1)
        {
            var t = ConstantNodeTensor(node);
            return t is null ? null : new Constant(this, owner, name, t, node);
        }
        return null;
    }

    /// <summary>Like <see cref="TryGetConstant"/>, but throws CT0203 when <paramref name="name"/> is not a constant.</summary>
    public Constant GetConstant(string name) => TryGetConstant(name) ?? throw new CompressTasksException(
        DiagnosticCodes.ConstantUnsupported, $"'{name}' is not a constant visible from graph {Path}", Model.SourcePath);

    /// <summary>
    /// Adds an initializer with a fresh name based on <paramref name="nameHint"/> and returns it as a constant.
    /// <paramref name="bytes"/> (raw_data layout) is kept without copying.
    /// </summary>
    public Constant AddInitializer(string nameHint, int dataType, ReadOnlySpan<long> dims, ReadOnlyMemory<byte> bytes)
    {
        var tensor = Constant.NewTensor(FreshName(nameHint), dataType, dims, bytes, "initializer", Model.SourcePath);
        Proto.Initializer.Add(tensor);
        _initializers[tensor.Name] = tensor;
        return new Constant(this, this, tensor.Name, tensor, null);
    }

    /// <summary>Removes the initializer <paramref name="name"/> of this graph; returns false when there is none. Readers are left to the caller.</summary>
    public bool RemoveInitializer(string name)
    {
        if (!_initializers.Remove(name, out var tensor)) return false;
        Proto.Initializer.Remove(tensor);
        return true;
    }

    // The tensor a Constant node produces, built from whichever value attribute it carries.
    private static TensorProto? ConstantNodeTensor(Node node)
    {
        foreach (var a in node.Proto.Attribute)
        {
            switch (a.Name)
            {
                case "value": return a.T;
                case "value_float": return Scalar(DataType.Float, BitConverter.GetBytes(a.F), scalar: true);
                case "value_floats":
                    {
                        var bytes = new byte[a.Floats.Count * 4];
                        for (int i = 0; i < a.Floats.Count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 4), a.Floats[i]);
                        return Scalar(DataType.Float, bytes, scalar: false);
                    }
                case "value_int": return Scalar(DataType.Int64, BitConverter.GetBytes(a.I), scalar: true);
                case "value_ints":
                    {
                        var bytes = new byte[a.Ints.Count * 8];
                        for (int i = 0; i < a.Ints.Count; i++) BitConverter.TryWriteBytes(bytes.AsSpan(i * 8), a.Ints[i]);
                        return Scalar(DataType.Int64, bytes, scalar: false);
                    }
                case "value_string":
                    {
                        var t = new TensorProto { DataType = (int)DataType.String };
                        t.StringData.Add(a.S);
                        return t;
                    }
                case "value_strings":
                    {
                        var t = new TensorProto { DataType = (int)DataType.String };
                        t.Dims.Add(a.Strings.Count);
                        t.StringData.Add(a.Strings);
                        return t;
                    }
                case "sparse_value": return null;
            }
        }
        return null;
    }

    private static TensorProto Scalar(DataType type, byte[] bytes, bool scalar)
    {
        var t = new TensorProto { DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        if (!scalar) t.Dims.Add(bytes.Length / (DataTypes.BitsPerElement((int)type) / 8));
        return t;
    }
}
