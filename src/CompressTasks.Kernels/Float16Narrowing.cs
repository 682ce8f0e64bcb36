using System.Numerics.Tensors;

namespace CompressTasks.Kernels;

/// <summary>
/// float32 → float16 with saturation: values beyond float16's largest finite value (±65504) become ±65504 instead
/// of ±infinity (a −1e9 attention mask stays a very large negative number); infinities and NaN stay; the rest round
/// to nearest even, as <see cref="TensorPrimitives.ConvertToHalf"/> does.
/// </summary>
public static class Float16Narrowing
{
    /// <summary>How many values are finite but beyond float16's range (±65504): they would not survive narrowing.</summary>
    public static int CountOutOfRange(ReadOnlySpan<float> source)
    {
        float limit = (float)Half.MaxValue;
        if (!AnyBeyond(source, limit)) return 0;
        int count = 0;
        foreach (var v in source)
            if (float.IsFinite(v) && Math.Abs(v) > limit) count++;
        return count;
    }

    /// <summary>Narrows <paramref name="source"/> into <paramref name="destination"/>; returns how many finite values were saturated.</summary>
    public static int ToHalfSaturating(ReadOnlySpan<float> source, Span<Half> destination)
    {
        if (destination.Length != source.Length) throw new ArgumentException("destination must have one element per source element", nameof(destination));
        float limit = (float)Half.MaxValue;
        // The common case, nothing out of range, is one vectorized scan and one conversion.
        if (!AnyBeyond(source, limit))
        {
            TensorPrimitives.ConvertToHalf(source, destination);
            return 0;
        }
        // The rare case: convert, then fix the finite values that became infinite.
        TensorPrimitives.ConvertToHalf(source, destination);
        int saturated = 0;
        for (int i = 0; i < source.Length; i++)
        {
            float v = source[i];
            if (!float.IsFinite(v) || Math.Abs(v) <= limit) continue;
            destination[i] = v > 0 ? Half.MaxValue : Half.MinValue;
            saturated++;
        }
        return saturated;
    }

    // MaxMagnitude returns the signed value of largest magnitude, and NaN when there is one: both need the slow path.
    private static bool AnyBeyond(ReadOnlySpan<float> source, float limit) =>
        source.Length > 0 && TensorPrimitives.MaxMagnitude(source) is var m && (float.IsNaN(m) || Math.Abs(m) > limit);
}
