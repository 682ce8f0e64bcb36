using System.Runtime.InteropServices;
using CompressTasks.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Graphs;

/// <summary>Where a constant's tensor lives.</summary>
public enum ConstantSource
{
    /// <summary>An entry of a graph's initializer list.</summary>
    Initializer,

    /// <summary>The attribute of a <c>Constant</c> node.</summary>
    ConstantNode,
}

/// <summary>
/// One view of a constant value, whether it is an initializer, a <c>Constant</c> node or either of those in an
/// enclosing graph. Typed accessors return spans over the dense little-endian payload (zero-copy for raw_data),
/// reinterpreted with <see cref="MemoryMarshal.Cast{TFrom, TTo}(ReadOnlySpan{TFrom})"/>, never parsed per element.
/// </summary>
public sealed class Constant
{
    internal Constant(Graph scope, Graph owner, string name, TensorProto tensor, Node? node)
    {
        Scope = scope;
        Graph = owner;
        Name = name;
        Tensor = tensor;
        Node = node;
    }

    /// <summary>The graph the constant was looked up from.</summary>
    public Graph Scope { get; }

    /// <summary>The graph that defines the constant.</summary>
    public Graph Graph { get; }

    /// <summary>The value name.</summary>
    public string Name { get; }

    /// <summary>The tensor. For Constant nodes with value_float(s)/value_int(s)/value_string(s) it is built from the attribute.</summary>
    public TensorProto Tensor { get; private set; }

    /// <summary>The Constant node, or null for an initializer.</summary>
    public Node? Node { get; }

    /// <summary>Whether it is an initializer or a Constant node.</summary>
    public ConstantSource Source => Node is null ? ConstantSource.Initializer : ConstantSource.ConstantNode;

    /// <summary>Whether the constant is defined in an enclosing graph of <see cref="Scope"/>.</summary>
    public bool IsOuterScope => Graph != Scope;

    /// <summary>The element type (a <see cref="DataType"/> value).</summary>
    public int DataType => Tensor.DataType;

    /// <summary>The dimensions; empty for a scalar.</summary>
    public IReadOnlyList<long> Dims => Tensor.Dims;

    /// <summary>Number of elements (1 for a scalar).</summary>
    public long ElementCount => TensorData.ElementCount(Tensor);

    /// <summary>Node inputs reading the constant at any depth of the model (shared weights have more than one).</summary>
    public int UseCount => Graph.UseCount(Name);

    /// <summary>The dense little-endian payload, wherever it is stored.</summary>
    public ReadOnlyMemory<byte> GetBytes() => TensorData.GetBytes(Tensor, Graph.Model.ExternalData);

    /// <summary>
    /// Drops the resident pages of the payload when it is read from a mapped file (<see cref="TensorData.ReleasePages"/>):
    /// for a weight a pass has copied out and will replace, so its pages are not held through the pass's own work.
    /// </summary>
    public void ReleasePages() => TensorData.ReleasePages(GetBytes());

    /// <summary>The payload as float32.</summary>
    public ReadOnlySpan<float> AsFloat() => Cast<float>(TensorProto.Types.DataType.Float);

    /// <summary>The payload as float16.</summary>
    public ReadOnlySpan<Half> AsHalf() => Cast<Half>(TensorProto.Types.DataType.Float16);

    /// <summary>The payload as bfloat16 bit patterns (the upper 16 bits of a float32).</summary>
    public ReadOnlySpan<ushort> AsBFloat16() => Cast<ushort>(TensorProto.Types.DataType.Bfloat16);

    /// <summary>The payload as float64.</summary>
    public ReadOnlySpan<double> AsDouble() => Cast<double>(TensorProto.Types.DataType.Double);

    /// <summary>The payload as int8.</summary>
    public ReadOnlySpan<sbyte> AsSByte() => Cast<sbyte>(TensorProto.Types.DataType.Int8);

    /// <summary>The payload as uint8.</summary>
    public ReadOnlySpan<byte> AsByte() => Cast<byte>(TensorProto.Types.DataType.Uint8);

    /// <summary>The payload as int16.</summary>
    public ReadOnlySpan<short> AsInt16() => Cast<short>(TensorProto.Types.DataType.Int16);

    /// <summary>The payload as uint16.</summary>
    public ReadOnlySpan<ushort> AsUInt16() => Cast<ushort>(TensorProto.Types.DataType.Uint16);

    /// <summary>The payload as int32.</summary>
    public ReadOnlySpan<int> AsInt32() => Cast<int>(TensorProto.Types.DataType.Int32);

    /// <summary>The payload as uint32.</summary>
    public ReadOnlySpan<uint> AsUInt32() => Cast<uint>(TensorProto.Types.DataType.Uint32);

    /// <summary>The payload as int64.</summary>
    public ReadOnlySpan<long> AsInt64() => Cast<long>(TensorProto.Types.DataType.Int64);

    /// <summary>The payload as uint64.</summary>
    public ReadOnlySpan<ulong> AsUInt64() => Cast<ulong>(TensorProto.Types.DataType.Uint64);

    /// <summary>The payload as bool (one byte per element, as ONNX stores it).</summary>
    public ReadOnlySpan<bool> AsBool() => Cast<bool>(TensorProto.Types.DataType.Bool);

    /// <summary>
    /// Replaces type, shape and payload (raw_data layout; kept without copying, so do not change
    /// <paramref name="bytes"/> afterwards). Every reader of the constant sees the new value, including readers in
    /// other subgraphs: check <see cref="UseCount"/> first when only one reader should change.
    /// </summary>
    public void Replace(int dataType, ReadOnlySpan<long> dims, ReadOnlyMemory<byte> bytes)
    {
        var tensor = NewTensor(Tensor.Name, dataType, dims, bytes, "new payload of", Graph.Model.SourcePath);
        if (Node is null)
        {
            // Edit in place: the initializer list keeps its order and the graph index keeps the same object.
            Tensor.DataType = dataType;
            Tensor.Dims.Clear();
            Tensor.Dims.Add(tensor.Dims);
            TensorData.SetBytes(Tensor, bytes);
        }
        else
        {
            // value_float(s)/value_int(s) cannot hold other types: the node always ends up with one `value` tensor.
            tensor.Name = "";
            Node.Proto.Attribute.Clear();
            Node.Proto.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
            Tensor = tensor;
        }
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} {DataTypes.Name(DataType)}[{string.Join(",", Tensor.Dims)}]";

    // The tensor that Replace and Graph.AddInitializer store: bytes (raw_data, kept without copying) must fill the
    // type and dims exactly, else CT0107 naming it as "{what} '{name}'".
    internal static TensorProto NewTensor(string name, int dataType, ReadOnlySpan<long> dims, ReadOnlyMemory<byte> bytes, string what, string? sourcePath)
    {
        var tensor = new TensorProto { Name = name, DataType = dataType };
        foreach (var d in dims) tensor.Dims.Add(d);
        long expected = DataTypes.ByteCount(dataType, TensorData.ElementCount(tensor));
        if (DataTypes.BitsPerElement(dataType) == 0 || bytes.Length != expected)
            throw new CompressTasksException(DiagnosticCodes.TensorDataInvalid,
                $"{what} '{name}' has {bytes.Length} bytes; type {DataTypes.Name(dataType)} with {dims.Length} dims needs {expected}",
                sourcePath);
        TensorData.SetBytes(tensor, bytes);
        return tensor;
    }

    private ReadOnlySpan<T> Cast<T>(DataType expected) where T : unmanaged
    {
        if (Tensor.DataType != (int)expected)
            throw new CompressTasksException(DiagnosticCodes.ConstantUnsupported,
                $"constant '{Name}' is {DataTypes.Name(Tensor.DataType)}, not {DataTypes.Name((int)expected)}", Graph.Model.SourcePath);
        // raw_data is little-endian; reinterpreting it is only right on a little-endian machine.
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian machines are not supported");
        return MemoryMarshal.Cast<byte, T>(GetBytes().Span);
    }
}
