using CompressTasks.Model;
using CompressTasks.Model.Onnx;

namespace CompressTasks.TestSupport;

/// <summary>
/// A named tensor in the raw_data layout (dense little-endian), as fed to and read back from ONNX Runtime.
/// <see cref="DataType"/> is an ONNX <c>TensorProto.DataType</c> value; string tensors use <see cref="Strings"/>.
/// </summary>
public sealed record TensorValue(string Name, int DataType, long[] Shape, byte[] Data, string[]? Strings = null)
{
    public static TensorValue FromFloats(string name, long[] shape, float[] values) =>
        new(name, (int)TensorProto.Types.DataType.Float, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public static TensorValue FromInt64s(string name, long[] shape, long[] values) =>
        new(name, (int)TensorProto.Types.DataType.Int64, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>
    /// Reads an ONNX <c>TensorProto</c> file (the backend suite's <c>input_N.pb</c>/<c>output_N.pb</c>) with our schema,
    /// decoding the payload through <see cref="TensorData"/> (raw_data or typed fields).
    /// </summary>
    public static TensorValue ReadPb(string path)
    {
        var tensor = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var shape = tensor.Dims.ToArray();
        if (tensor.DataType == (int)TensorProto.Types.DataType.String)
            return new TensorValue(tensor.Name, tensor.DataType, shape, [], tensor.StringData.Select(s => s.ToStringUtf8()).ToArray());
        return new TensorValue(tensor.Name, tensor.DataType, shape, TensorData.GetBytes(tensor, null).ToArray());
    }

    public override string ToString() => $"{Name}: {DataTypes.Name(DataType)}[{string.Join(",", Shape)}]";
}
