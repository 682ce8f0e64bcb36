using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace CompressTasks.Runtime.Data;

/// <summary>An array read from a NumPy <c>.npy</c> file: its dtype descriptor, shape and little-endian C-order bytes.</summary>
public sealed record NpyArray(string Descr, long[] Shape, byte[] Data)
{
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * d);

    /// <summary>The elements as <typeparamref name="T"/>; the dtype must match (e.g. <c>&lt;f4</c> for float).</summary>
    public T[] As<T>() where T : unmanaged
    {
        int size = System.Runtime.CompilerServices.Unsafe.SizeOf<T>(); // not Marshal.SizeOf: that says 4 for bool
        if (NpyReader.ItemSize(Descr) != size)
            throw new InvalidDataException($"the array has dtype '{Descr}', not {typeof(T).Name}");
        return MemoryMarshal.Cast<byte, T>(Data).ToArray();
    }
}

/// <summary>
/// Reads NumPy <c>.npy</c> files (format versions 1.0, 2.0 and 3.0): the magic <c>\x93NUMPY</c>, a version, a header
/// length (2 bytes in v1, 4 in v2/v3), a Python-dict header <c>{'descr': '&lt;f4', 'fortran_order': False, 'shape': (1000, 784), }</c>,
/// then the raw elements. Only little-endian (or byte-sized) numeric dtypes in C order are accepted: that is what
/// calibration and evaluation data use, and it lets the bytes go to ONNX Runtime unchanged.
/// </summary>
public static class NpyReader
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static NpyArray Read(string path)
    {
        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    public static NpyArray Read(Stream stream, string name = "<stream>")
    {
        Span<byte> prefix = stackalloc byte[10];
        stream.ReadExactly(prefix[..8]);
        if (!prefix[..6].SequenceEqual(Magic)) throw Bad(name, "it does not start with the .npy magic \\x93NUMPY");
        int major = prefix[6];
        int headerLength;
        if (major == 1)
        {
            stream.ReadExactly(prefix.Slice(8, 2));
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix[8..]);
        }
        else if (major is 2 or 3)
        {
            Span<byte> four = stackalloc byte[4];
            stream.ReadExactly(four);
            headerLength = checked((int)BinaryPrimitives.ReadUInt32LittleEndian(four));
        }
        else throw Bad(name, $"format version {major}.{prefix[7]} is not supported (1.0, 2.0, 3.0 are)");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);

        var descr = StringValue(header, "descr", name);
        if (Value(header, "fortran_order", name).StartsWith("True", StringComparison.Ordinal))
            throw Bad(name, "Fortran-order arrays are not supported; save with np.ascontiguousarray");
        var shapeText = Value(header, "shape", name);
        int close = shapeText.IndexOf(')');
        if (!shapeText.StartsWith('(') || close < 0) throw Bad(name, $"malformed shape in header '{header.Trim()}'");
        var shape = shapeText[1..close].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.Parse(d.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture)).ToArray();

        int itemSize = ItemSize(descr);
        if (itemSize == 0) throw Bad(name, $"dtype '{descr}' is not supported (little-endian numeric or bool only)");
        long bytes = shape.Aggregate((long)itemSize, (a, d) => checked(a * d));
        if (bytes > Array.MaxLength) throw Bad(name, $"the array has {bytes} bytes, more than one buffer holds");
        var data = GC.AllocateUninitializedArray<byte>((int)bytes);
        try { stream.ReadExactly(data); }
        catch (EndOfStreamException) { throw Bad(name, $"the file ends before the {bytes} bytes of data its header announces"); }
        return new NpyArray(descr, shape, data);
    }

    /// <summary>Bytes per element of a dtype descriptor, 0 if unsupported (big-endian, strings, objects).</summary>
    public static int ItemSize(string descr) => descr switch
    {
        "|b1" or "|u1" or "|i1" or "<u1" or "<i1" => 1,
        "<f2" or "<i2" or "<u2" => 2,
        "<f4" or "<i4" or "<u4" => 4,
        "<f8" or "<i8" or "<u8" => 8,
        _ => 0,
    };

    // The header is a Python dict literal; the keys are fixed, so a targeted scan is enough.
    private static string Value(string header, string key, string name)
    {
        int at = header.IndexOf($"'{key}'", StringComparison.Ordinal);
        if (at < 0) throw Bad(name, $"the header has no '{key}': '{header.Trim()}'");
        int colon = header.IndexOf(':', at);
        if (colon < 0) throw Bad(name, $"malformed header '{header.Trim()}'");
        return header[(colon + 1)..].TrimStart();
    }

    private static string StringValue(string header, string key, string name)
    {
        var rest = Value(header, key, name);
        if (rest.Length == 0 || rest[0] is not ('\'' or '"')) throw Bad(name, $"'{key}' is not a string in '{header.Trim()}'");
        int end = rest.IndexOf(rest[0], 1);
        if (end < 0) throw Bad(name, $"malformed header '{header.Trim()}'");
        return rest[1..end];
    }

    private static InvalidDataException Bad(string name, string what) => new($"'{name}' is not a readable .npy file: {what}");
}
