using System.Buffers.Binary;
using System.Runtime.InteropServices;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Model;

/// <summary>
/// One view of a tensor's payload, wherever the model keeps it: dense little-endian bytes, as raw_data holds them.
/// </summary>
public static class TensorData
{
    /// <summary>Product of the dimensions (1 for a scalar). Negative or overflowing dimensions are invalid.</summary>
    public static long ElementCount(TensorProto tensor)
    {
        long count = 1;
        foreach (var d in tensor.Dims)
        {
            if (d < 0) throw Invalid(tensor, $"has negative dimension {d}");
            try { count = checked(count * d); }
            catch (OverflowException) { throw Invalid(tensor, "has more elements than fit in 64 bits"); }
        }
        return count;
    }

    /// <summary>Whether the payload lives in an external file.</summary>
    public static bool IsExternal(TensorProto tensor) =>
        tensor.HasDataLocation && tensor.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>Size of the payload as stored now (raw bytes, encoded typed fields or external length); no decoding.</summary>
    public static long StoredByteCount(TensorProto tensor)
    {
        if (IsExternal(tensor)) return ExternalDataStore.DescribeLength(tensor) ?? DataTypes.ByteCount(tensor.DataType, ElementCount(tensor));
        long n = tensor.RawData.Length + tensor.FloatData.Length + tensor.Int32Data.Length + tensor.Int64Data.Length
            + tensor.DoubleData.Length + tensor.Uint64Data.Length;
        foreach (var s in tensor.StringData) n += s.Length;
        return n;
    }

    /// <summary>
    /// The dense little-endian payload (the raw_data layout) of a numeric tensor. Zero-copy for raw_data; external
    /// data is read through <paramref name="external"/>; typed fields are decoded into a new buffer.
    /// </summary>
    public static ReadOnlyMemory<byte> GetBytes(TensorProto tensor, ExternalDataStore? external)
    {
        if (tensor.DataType == (int)DataType.String) throw Invalid(tensor, "is a string tensor and has no numeric payload");
        long expected = DataTypes.ByteCount(tensor.DataType, ElementCount(tensor));
        if (DataTypes.BitsPerElement(tensor.DataType) == 0) throw Invalid(tensor, $"has unsupported data type {tensor.DataType}");
        ReadOnlyMemory<byte> bytes;
        if (IsExternal(tensor))
        {
            if (external is null) throw Invalid(tensor, "has external data but the model was not loaded from a file");
            bytes = external.Read(tensor);
        }
        else if (tensor.HasRawData) bytes = tensor.RawData.Memory;
        else bytes = DecodeTyped(tensor, expected);
        if (bytes.Length != expected)
            throw Invalid(tensor, $"holds {bytes.Length} bytes of data but its type and shape need {expected}");
        return bytes;
    }

    /// <summary>
    /// Drops this process's resident pages of <paramref name="payload"/> when it is a part of a mapped model or data
    /// file (<see cref="MappedFile.ReleasePages(long, long)"/>; the bytes stay readable, from the page cache);
    /// nothing for a payload in memory.
    /// </summary>
    public static void ReleasePages(ReadOnlyMemory<byte> payload)
    {
        if (MemoryMarshal.TryGetMemoryManager(payload, out MappedFile? file, out int start, out int length)) file.ReleasePages(start, length);
        else if (MemoryMarshal.TryGetMemoryManager(payload, out MappedFile.Range? range, out start, out length)) range.File.ReleasePages(range.Offset + start, length);
    }

    /// <summary>Replaces the payload by <paramref name="bytes"/> (raw_data layout), without copying; clears typed and external storage.</summary>
    public static void SetBytes(TensorProto tensor, ReadOnlyMemory<byte> bytes)
    {
        ClearPayload(tensor);
        tensor.RawData = UnsafeByteOperations.UnsafeWrap(bytes);
    }

    /// <summary>Removes every payload field (typed, raw and external references).</summary>
    public static void ClearPayload(TensorProto tensor)
    {
        tensor.ClearFloatData();
        tensor.ClearInt32Data();
        tensor.ClearInt64Data();
        tensor.ClearDoubleData();
        tensor.ClearUint64Data();
        tensor.ClearRawData();
        tensor.ExternalData.Clear();
        tensor.ClearDataLocation();
    }

    private static ReadOnlyMemory<byte> DecodeTyped(TensorProto tensor, long expected)
    {
        if (expected > Array.MaxLength) throw Invalid(tensor, "is too large to decode into memory");
        var type = (DataType)tensor.DataType;
        // Packed float and double elements are already the raw_data layout: the payload is the field itself.
        var packed = type switch
        {
            DataType.Float or DataType.Complex64 => tensor.FloatData.Memory,
            DataType.Double or DataType.Complex128 => tensor.DoubleData.Memory,
            _ => default,
        };
        if (!packed.IsEmpty) return packed;
        var output = new byte[expected];
        ReadOnlySpan<byte> encoded;
        bool varint;
        switch (type)
        {
            case DataType.Float or DataType.Complex64:
                encoded = tensor.FloatData.Span; varint = false; break;
            case DataType.Double or DataType.Complex128:
                encoded = tensor.DoubleData.Span; varint = false; break;
            case DataType.Int64:
                encoded = tensor.Int64Data.Span; varint = true; break;
            case DataType.Uint64 or DataType.Uint32:
                encoded = tensor.Uint64Data.Span; varint = true; break;
            default:
                encoded = tensor.Int32Data.Span; varint = true; break;
        }
        if (encoded.IsEmpty && expected > 0)
        {
            // The writer used the unpacked encoding: the elements were kept as unknown fields.
            encoded = UnpackedFallback(tensor, type, out varint);
        }
        if (!varint)
        {
            if (encoded.Length != expected) throw Invalid(tensor, $"holds {encoded.Length} bytes of data but its type and shape need {expected}");
            encoded.CopyTo(output);
            return output;
        }
        int width = Math.Max(1, DataTypes.BitsPerElement(tensor.DataType) / 8);
        // 4-bit types store one packed byte (two elements) per int32 value.
        int pos = 0, written = 0;
        var span = output.AsSpan();
        while (pos < encoded.Length)
        {
            if (written + width > span.Length) throw Invalid(tensor, "holds more elements than its shape");
            ulong v = ReadVarint(encoded, ref pos, tensor);
            switch (width)
            {
                case 1: span[written] = (byte)v; break;
                case 2: BinaryPrimitives.WriteUInt16LittleEndian(span[written..], (ushort)v); break;
                case 4: BinaryPrimitives.WriteUInt32LittleEndian(span[written..], (uint)v); break;
                default: BinaryPrimitives.WriteUInt64LittleEndian(span[written..], v); break;
            }
            written += width;
        }
        if (written != span.Length) throw Invalid(tensor, $"holds {written} bytes of data but its type and shape need {expected}");
        return output;
    }

    // Decodes fields 4/5/7/10/11 written one element per tag (fixed32/fixed64/varint) from the re-serialized tensor.
    private static ReadOnlySpan<byte> UnpackedFallback(TensorProto tensor, DataType type, out bool varint)
    {
        int wanted = type switch
        {
            DataType.Float or DataType.Complex64 => 4,
            DataType.Double or DataType.Complex128 => 10,
            DataType.Int64 => 7,
            DataType.Uint64 or DataType.Uint32 => 11,
            _ => 5,
        };
        varint = wanted is 5 or 7 or 11;
        var wire = tensor.ToByteArray().AsSpan();
        var collected = new List<byte>();
        int pos = 0;
        Span<byte> scratch = stackalloc byte[10];
        while (pos < wire.Length)
        {
            ulong tag = ReadVarint(wire, ref pos, tensor);
            int field = (int)(tag >> 3), wt = (int)(tag & 7);
            int start = pos;
            switch (wt)
            {
                case 0: ReadVarint(wire, ref pos, tensor); break;
                case 1: pos += 8; break;
                case 5: pos += 4; break;
                case 2:
                    // Read the length first: `pos += ReadVarint(ref pos)` would add it to pos from before the length bytes.
                    ulong length = ReadVarint(wire, ref pos, tensor);
                    if (length > (ulong)(wire.Length - pos)) throw Invalid(tensor, "is truncated");
                    start = pos;
                    pos += (int)length;
                    break;
                default: throw Invalid(tensor, $"has field {field} with wire type {wt}");
            }
            if (pos > wire.Length) throw Invalid(tensor, "is truncated");
            if (field == wanted && wt != 2)
                foreach (var b in wire[start..pos]) collected.Add(b);
        }
        return CollectionsMarshal.AsSpan(collected);
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> span, ref int pos, TensorProto tensor)
    {
        ulong result = 0;
        for (int shift = 0; shift < 64 && pos < span.Length; shift += 7)
        {
            byte b = span[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return result;
        }
        throw Invalid(tensor, "has a malformed packed field");
    }

    internal static CompressTasksException Invalid(TensorProto tensor, string what) =>
        new(DiagnosticCodes.TensorDataInvalid, $"tensor '{tensor.Name}' {what}");
}
