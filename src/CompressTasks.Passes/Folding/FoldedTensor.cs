using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Model;
using DT = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Passes.Folding;

/// <summary>
/// A dense tensor while <see cref="FoldConstants"/> evaluates a node: element type, dims and the little-endian
/// payload (raw_data layout). A shape-only tensor (<see cref="HasData"/> false) stands for a computed value whose
/// static shape is declared, which only <c>Shape</c> and <c>Size</c> may read.
/// </summary>
internal sealed record FoldedTensor(int DataType, long[] Dims, ReadOnlyMemory<byte> Bytes, bool HasData = true)
{
    public long Count => ElementCount(Dims);

    public int ElementSize => DataTypes.BitsPerElement(DataType) / 8;

    public ReadOnlySpan<T> As<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Bytes.Span);

    public static FoldedTensor From(Constant constant) => new(constant.DataType, constant.Dims.ToArray(), constant.GetBytes());

    public static FoldedTensor ShapeOnly(long[] dims) => new((int)DT.Undefined, dims, ReadOnlyMemory<byte>.Empty, HasData: false);

    public static FoldedTensor FromInt64(long[] dims, long[] values) => new((int)DT.Int64, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    /// <summary>Product of the dims, saturating at <see cref="long.MaxValue"/>; -1 when a dim is negative.</summary>
    public static long ElementCount(ReadOnlySpan<long> dims)
    {
        long n = 1;
        foreach (var d in dims)
        {
            if (d < 0) return -1;
            if (d != 0 && n > long.MaxValue / d) return long.MaxValue;
            n *= d;
        }
        return n;
    }

    /// <summary>Whether elements are whole bytes that can be moved without knowing the type (not string, not 4-bit).</summary>
    public bool IsMovable => HasData && DataTypes.BitsPerElement(DataType) is 8 or 16 or 32 or 64;

    public static bool IsFloat(int type) => (DT)type is DT.Float or DT.Double or DT.Float16;

    public static bool IsInteger(int type) => (DT)type is DT.Int8 or DT.Uint8
        or DT.Int16 or DT.Uint16 or DT.Int32
        or DT.Uint32 or DT.Int64 or DT.Uint64
        or DT.Bool;

    /// <summary>The values as int64 (integer and bool types; floats truncate toward zero); null for other types.</summary>
    public long[]? ToInt64()
    {
        var r = new long[Count];
        switch ((DT)DataType)
        {
            case DT.Int64: As<long>().CopyTo(r); break;
            case DT.Uint64: MemoryMarshal.Cast<ulong, long>(As<ulong>()).CopyTo(r); break;
            case DT.Int32: Widen(As<int>(), r); break;
            case DT.Uint32: Widen(As<uint>(), r); break;
            case DT.Int16: Widen(As<short>(), r); break;
            case DT.Uint16: Widen(As<ushort>(), r); break;
            case DT.Int8: Widen(As<sbyte>(), r); break;
            case DT.Uint8 or DT.Bool: Widen(As<byte>(), r); break;
            default: return null;
        }
        return r;
    }

    /// <summary>The values as float64 (float types exactly, integers converted); null for other types.</summary>
    public double[]? ToDouble()
    {
        var r = new double[Count];
        switch ((DT)DataType)
        {
            case DT.Float: { var s = As<float>(); for (int i = 0; i < r.Length; i++) r[i] = s[i]; break; }
            case DT.Double: As<double>().CopyTo(r); break;
            case DT.Float16: { var s = As<Half>(); for (int i = 0; i < r.Length; i++) r[i] = (double)s[i]; break; }
            default:
                if (ToInt64() is not { } longs) return null;
                for (int i = 0; i < r.Length; i++) r[i] = DataType == (int)DT.Uint64 ? (ulong)longs[i] : longs[i];
                break;
        }
        return r;
    }

    /// <summary>A tensor of <paramref name="type"/> (a float type) from float64 values, rounded once.</summary>
    public static FoldedTensor FromDouble(int type, long[] dims, ReadOnlySpan<double> values)
    {
        byte[] bytes;
        switch ((DT)type)
        {
            case DT.Float: { var v = new float[values.Length]; for (int i = 0; i < v.Length; i++) v[i] = (float)values[i]; bytes = MemoryMarshal.AsBytes(v.AsSpan()).ToArray(); break; }
            case DT.Double: bytes = MemoryMarshal.AsBytes(values).ToArray(); break;
            case DT.Float16: { var v = new Half[values.Length]; for (int i = 0; i < v.Length; i++) v[i] = (Half)(float)values[i]; bytes = MemoryMarshal.AsBytes(v.AsSpan()).ToArray(); break; }
            default: throw new ArgumentException($"not a float type: {DataTypes.Name(type)}", nameof(type));
        }
        return new FoldedTensor(type, dims, bytes);
    }

    /// <summary>A tensor of <paramref name="type"/> (an integer or bool type) from int64 values, wrapping like a C cast.</summary>
    public static FoldedTensor FromInt64(int type, long[] dims, ReadOnlySpan<long> values)
    {
        var bytes = new byte[values.Length * (DataTypes.BitsPerElement(type) / 8)];
        var span = bytes.AsSpan();
        for (int i = 0; i < values.Length; i++)
        {
            long v = values[i];
            switch ((DT)type)
            {
                case DT.Int64 or DT.Uint64: MemoryMarshal.Cast<byte, long>(span)[i] = v; break;
                case DT.Int32 or DT.Uint32: MemoryMarshal.Cast<byte, int>(span)[i] = unchecked((int)v); break;
                case DT.Int16 or DT.Uint16: MemoryMarshal.Cast<byte, short>(span)[i] = unchecked((short)v); break;
                case DT.Int8 or DT.Uint8: span[i] = unchecked((byte)v); break;
                case DT.Bool: span[i] = v != 0 ? (byte)1 : (byte)0; break;
                default: throw new ArgumentException($"not an integer type: {DataTypes.Name(type)}", nameof(type));
            }
        }
        return new FoldedTensor(type, dims, bytes);
    }

    /// <summary>Row-major element strides of <paramref name="dims"/>.</summary>
    public static long[] Strides(ReadOnlySpan<long> dims)
    {
        var s = new long[dims.Length];
        long n = 1;
        for (int i = dims.Length - 1; i >= 0; i--) { s[i] = n; n *= dims[i]; }
        return s;
    }

    /// <summary>
    /// For each element of a row-major tensor of <paramref name="outDims"/>, the index of the source element it
    /// reads: <c>offset + Σ index[k]·strides[k]</c> (walked like an odometer, no per-element multiplication).
    /// </summary>
    public static long[] Map(long[] outDims, long[] strides, long offset = 0)
    {
        var map = new long[ElementCount(outDims)];
        if (map.Length == 0) return map;
        var index = new long[outDims.Length];
        long at = offset;
        for (long i = 0; i < map.Length; i++)
        {
            map[i] = at;
            for (int k = outDims.Length - 1; k >= 0; k--)
            {
                at += strides[k];
                if (++index[k] < outDims[k]) break;
                at -= strides[k] * outDims[k];
                index[k] = 0;
            }
        }
        return map;
    }

    /// <summary>A tensor of this type and <paramref name="dims"/> whose element i is element map[i] of this one.</summary>
    public FoldedTensor Take(long[] dims, long[] map)
    {
        int size = ElementSize;
        var bytes = new byte[map.Length * size];
        var source = Bytes.Span;
        for (int i = 0; i < map.Length; i++) source.Slice((int)(map[i] * size), size).CopyTo(bytes.AsSpan(i * size, size));
        return new FoldedTensor(DataType, dims, bytes);
    }

    /// <summary>Strides that read a tensor of <paramref name="dims"/> broadcast to <paramref name="outDims"/> (0 along stretched axes).</summary>
    public static long[] BroadcastStrides(long[] dims, long[] outDims)
    {
        var own = Strides(dims);
        var s = new long[outDims.Length];
        int shift = outDims.Length - dims.Length;
        for (int k = shift; k < outDims.Length; k++) s[k] = dims[k - shift] == 1 && outDims[k] != 1 ? 0 : own[k - shift];
        return s;
    }

    private static void Widen<T>(ReadOnlySpan<T> source, long[] target) where T : unmanaged, System.Numerics.IBinaryInteger<T>
    {
        for (int i = 0; i < target.Length; i++) target[i] = long.CreateTruncating(source[i]);
    }
}
