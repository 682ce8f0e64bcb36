using System.Runtime.InteropServices;
using CompressTasks.Model;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.TestSupport;

/// <summary>
/// Compares tensors as numpy's <c>assert_allclose</c> does: <c>|actual − expected| ≤ atol + rtol·|expected|</c>, NaN equal
/// to NaN, integers, booleans and strings exactly. The defaults are the ONNX backend suite's.
/// </summary>
public static class TensorComparer
{
    public const double DefaultRtol = 1e-3;
    public const double DefaultAtol = 1e-7;

    /// <summary>Null when equal within tolerance, otherwise a description of the first difference.</summary>
    public static string? Difference(TensorValue expected, TensorValue actual, double rtol = DefaultRtol, double atol = DefaultAtol)
    {
        // The suite (onnx before 1.14) stores bfloat16 outputs as uint16 of the same bits.
        if (expected.DataType == (int)DataType.Uint16 && actual.DataType == (int)DataType.Bfloat16)
            expected = expected with { DataType = actual.DataType };
        if (expected.DataType != actual.DataType)
            return $"{expected.Name}: type {DataTypes.Name(actual.DataType)}, expected {DataTypes.Name(expected.DataType)}";
        if (!expected.Shape.SequenceEqual(actual.Shape))
            return $"{expected.Name}: shape [{string.Join(",", actual.Shape)}], expected [{string.Join(",", expected.Shape)}]";
        if (expected.Strings is not null)
        {
            for (int i = 0; i < expected.Strings.Length; i++)
                if (expected.Strings[i] != actual.Strings![i]) return $"{expected.Name}[{i}]: '{actual.Strings[i]}', expected '{expected.Strings[i]}'";
            return null;
        }
        var e = expected.Data.AsSpan();
        var a = actual.Data.AsSpan();
        switch ((DataType)expected.DataType)
        {
            case DataType.Float or DataType.Complex64:
                return Close(expected.Name, MemoryMarshal.Cast<byte, float>(e), MemoryMarshal.Cast<byte, float>(a), x => x, rtol, atol);
            case DataType.Double or DataType.Complex128:
                return Close(expected.Name, MemoryMarshal.Cast<byte, double>(e), MemoryMarshal.Cast<byte, double>(a), x => x, rtol, atol);
            case DataType.Float16:
                return Close(expected.Name, MemoryMarshal.Cast<byte, Half>(e), MemoryMarshal.Cast<byte, Half>(a), x => (double)x, rtol, atol);
            case DataType.Bfloat16:
                return Close(expected.Name, MemoryMarshal.Cast<byte, ushort>(e), MemoryMarshal.Cast<byte, ushort>(a),
                    x => BitConverter.Int32BitsToSingle(x << 16), rtol, atol);
            default:
                // Integers, bool, 8-bit floats: exact.
                if (e.SequenceEqual(a)) return null;
                int at = e.CommonPrefixLength(a);
                return $"{expected.Name}: byte {at} differs ({(at < a.Length ? a[at] : -1)}, expected {(at < e.Length ? e[at] : -1)}) for type {DataTypes.Name(expected.DataType)}";
        }
    }

    private static string? Close<T>(string name, ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, Func<T, double> toDouble, double rtol, double atol)
    {
        if (expected.Length != actual.Length) return $"{name}: {actual.Length} elements, expected {expected.Length}";
        for (int i = 0; i < expected.Length; i++)
        {
            double x = toDouble(expected[i]), y = toDouble(actual[i]);
            if (double.IsNaN(x) && double.IsNaN(y)) continue;
            if (x == y) continue; // also equal infinities
            if (!(Math.Abs(y - x) <= atol + rtol * Math.Abs(x)))
                return $"{name}[{i}]: {y:R}, expected {x:R} (rtol {rtol}, atol {atol})";
        }
        return null;
    }

    /// <summary>Compares output lists by position.</summary>
    public static string? Difference(IReadOnlyList<TensorValue> expected, IReadOnlyList<TensorValue> actual, double rtol = DefaultRtol, double atol = DefaultAtol)
    {
        if (expected.Count != actual.Count) return $"{actual.Count} outputs, expected {expected.Count}";
        for (int i = 0; i < expected.Count; i++)
        {
            var d = Difference(expected[i], actual[i], rtol, atol);
            if (d is not null) return d;
        }
        return null;
    }
}
