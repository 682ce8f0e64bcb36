using CompressTasks.Diagnostics;

namespace CompressTasks.Runtime;

/// <summary>
/// Makes inputs for a session when no data is given: shapes from the model's declarations, free dimensions from
/// <c>pinned</c> shapes (the recipe's <c>inputs:</c>) or 1, values from a seeded generator so every run sees the same data.
/// </summary>
public static class InputGenerator
{
    public static Dictionary<string, TensorValue> Generate(IReadOnlyList<TensorInfo> inputs, IReadOnlyDictionary<string, long[]>? pinned, int seed)
    {
        var random = new Random(seed);
        var feeds = new Dictionary<string, TensorValue>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            long[] shape = pinned is not null && pinned.TryGetValue(input.Name, out var pin) ? pin : input.Shape.Select(d => d < 0 ? 1 : d).ToArray();
            if (shape.Length != input.Shape.Length)
                throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                    $"input '{input.Name}' has rank {input.Shape.Length} but its pinned shape has {shape.Length} dimensions");
            long count = 1;
            foreach (var d in shape) count = checked(count * d);
            feeds[input.Name] = new TensorValue(input.ElementType, shape, Fill(input, count, random));
        }
        return feeds;
    }

    private static byte[] Fill(TensorInfo input, long count, Random random)
    {
        switch (input.ElementType)
        {
            case 1:
            {
                var values = new float[count];
                for (int i = 0; i < values.Length; i++) values[i] = random.NextSingle();
                return System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
            }
            case 10:
            {
                var values = new Half[count];
                for (int i = 0; i < values.Length; i++) values[i] = (Half)random.NextSingle();
                return System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray();
            }
            case 7:
                // Small non-negative integers: valid as indices, lengths or token ids for most models.
                var longs = new long[count];
                for (int i = 0; i < longs.Length; i++) longs[i] = random.Next(0, 2);
                return System.Runtime.InteropServices.MemoryMarshal.AsBytes(longs.AsSpan()).ToArray();
            case 6:
                var ints = new int[count];
                for (int i = 0; i < ints.Length; i++) ints[i] = random.Next(0, 2);
                return System.Runtime.InteropServices.MemoryMarshal.AsBytes(ints.AsSpan()).ToArray();
            case 9:
                var bools = new byte[count];
                for (int i = 0; i < bools.Length; i++) bools[i] = (byte)random.Next(0, 2);
                return bools;
            default:
                throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                    $"input '{input.Name}' has element type {input.ElementType}, for which no inputs can be generated; give evaluation data in the recipe");
        }
    }
}
