using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Model;

/// <summary>Facts about ONNX tensor element types.</summary>
public static class DataTypes
{
    /// <summary>Bits per element in dense little-endian (raw_data) storage; 0 for STRING and unknown types.</summary>
    public static int BitsPerElement(int dataType) => (DataType)dataType switch
    {
        DataType.Float or DataType.Int32 or DataType.Uint32 => 32,
        DataType.Double or DataType.Int64 or DataType.Uint64 or DataType.Complex64 => 64,
        DataType.Complex128 => 128,
        DataType.Float16 or DataType.Bfloat16 or DataType.Int16 or DataType.Uint16 => 16,
        DataType.Int8 or DataType.Uint8 or DataType.Bool or DataType.Float8E4M3Fn or DataType.Float8E4M3Fnuz
            or DataType.Float8E5M2 or DataType.Float8E5M2Fnuz or DataType.Float8E8M0 => 8,
        DataType.Int4 or DataType.Uint4 or DataType.Float4E2M1 => 4,
        _ => 0,
    };

    /// <summary>Bytes that <paramref name="elements"/> elements occupy in raw_data (4-bit types pack two per byte).</summary>
    public static long ByteCount(int dataType, long elements) => (BitsPerElement(dataType) * elements + 7) / 8;

    /// <summary>The specification's name of a type, e.g. <c>float</c>, <c>int8</c>; unknown values print as numbers.</summary>
    public static string Name(int dataType) => (DataType)dataType switch
    {
        DataType.Float => "float",
        DataType.Double => "double",
        DataType.Float16 => "float16",
        DataType.Bfloat16 => "bfloat16",
        DataType.Int8 => "int8",
        DataType.Uint8 => "uint8",
        DataType.Int16 => "int16",
        DataType.Uint16 => "uint16",
        DataType.Int32 => "int32",
        DataType.Uint32 => "uint32",
        DataType.Int64 => "int64",
        DataType.Uint64 => "uint64",
        DataType.Bool => "bool",
        DataType.String => "string",
        DataType.Complex64 => "complex64",
        DataType.Complex128 => "complex128",
        DataType.Int4 => "int4",
        DataType.Uint4 => "uint4",
        DataType.Float8E4M3Fn => "float8e4m3fn",
        DataType.Float8E4M3Fnuz => "float8e4m3fnuz",
        DataType.Float8E5M2 => "float8e5m2",
        DataType.Float8E5M2Fnuz => "float8e5m2fnuz",
        DataType.Float8E8M0 => "float8e8m0",
        DataType.Float4E2M1 => "float4e2m1",
        _ => $"type{dataType}",
    };
}
