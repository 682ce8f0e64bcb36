using System.Runtime.InteropServices;

namespace CompressTasks.Runtime;

/// <summary>
/// A dense tensor passed to or returned from ONNX Runtime: ONNX element type, shape and little-endian bytes.
/// Kept as bytes so every element type travels the same way and nothing is converted element by element.
/// </summary>
public sealed record TensorValue(int ElementType, long[] Shape, byte[] Data)
{
    /// <summary>Number of elements (product of the shape).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>A float32 tensor over a copy of <paramref name="values"/>.</summary>
    public static TensorValue FromFloats(ReadOnlySpan<float> values, params long[] shape) =>
        new(1, shape, MemoryMarshal.AsBytes(values).ToArray());

    /// <summary>The elements as <typeparamref name="T"/> (must match <see cref="ElementType"/>'s width).</summary>
    public ReadOnlySpan<T> As<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Data);

    /// <summary>The elements widened to float32 for comparison (float, float16, double, integer and bool outputs).</summary>
    public float[] ToFloats()
    {
        var result = new float[ElementCount];
        switch (ElementType)
        {
            case 1: As<float>().CopyTo(result); break;
            case 10: System.Numerics.Tensors.TensorPrimitives.ConvertToSingle(As<Half>(), result); break;
            case 11: Widen(As<double>(), result); break;
            case 7: Widen(As<long>(), result); break;
            case 6: Widen(As<int>(), result); break;
            case 3: Widen(As<sbyte>(), result); break;
            case 2 or 9: Widen<byte>(Data, result); break;
            default: throw new NotSupportedException($"element type {ElementType} cannot be compared numerically");
        }
        return result;
    }

    private static void Widen<T>(ReadOnlySpan<T> source, Span<float> destination) where T : unmanaged, System.Numerics.INumberBase<T>
    {
        for (int i = 0; i < destination.Length; i++) destination[i] = float.CreateTruncating(source[i]);
    }
}
