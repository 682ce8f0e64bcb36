using System.Buffers;
using System.Numerics.Tensors;

namespace CompressTasks.Kernels;

/// <summary>
/// float32 → float16 with saturation: values beyond float16's largest finite value (±65504) become ±65504 instead
/// of ±infinity (a −1e9 attention mask stays a very large negative number); NaN stays NaN; the rest round to nearest
/// even, as <see cref="TensorPrimitives.ConvertToHalf"/> does.
/// </summary>
public static class Float16Narrowing
{
    private const int Chunk = 4096;

    /// <summary>Narrows <paramref name="source"/> into <paramref name="destination"/>; returns how many values were saturated.</summary>
    public static int ToHalfSaturating(ReadOnlySpan<float> source, Span<Half> destination)
    {
        if (destination.Length != source.Length) throw new ArgumentException("destination must have one element per source element", nameof(destination));
        float limit = (float)Half.MaxValue;
        // The common case, nothing out of range, is one vectorized scan and one conversion.
        if (source.Length == 0 || !(TensorPrimitives.MaxMagnitude(source) > limit))
        {
            TensorPrimitives.ConvertToHalf(source, destination);
            return 0;
        }
        int saturated = 0;
        var buffer = ArrayPool<float>.Shared.Rent(Math.Min(Chunk, source.Length));
        try
        {
            for (int start = 0; start < source.Length; start += Chunk)
            {
                var part = source.Slice(start, Math.Min(Chunk, source.Length - start));
                var scratch = buffer.AsSpan(0, part.Length);
                foreach (var v in part)
                    if (float.IsInfinity(v) || Math.Abs(v) > limit) saturated++;
                TensorPrimitives.Min(part, limit, scratch);
                TensorPrimitives.Max(scratch, -limit, scratch);
                TensorPrimitives.ConvertToHalf(scratch, destination.Slice(start, part.Length));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
        return saturated;
    }
}
