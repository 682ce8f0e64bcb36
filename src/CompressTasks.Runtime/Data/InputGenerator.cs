using CompressTasks.Diagnostics;

namespace CompressTasks.Runtime;

/// <summary>
/// Makes inputs for a session when no data is given: shapes from the model's declarations, free dimensions from
/// <c>pinned</c> shapes (the recipe's <c>inputs:</c>) or 1, values from a seeded generator so every run sees the same data.
/// </summary>
/// <remarks>
/// Pinned values (the recipe's <c>inputs: { sr: { values: [8000, 16000] } }</c>) replace the random values of their
/// input: sample <c>i</c> takes value <c>i mod count</c>, one number for every element or one number per element. The
/// random draws are made all the same, so pinning one input leaves every other input's values as they were.
/// </remarks>
public static class InputGenerator
{
    /// <summary>Inputs for sample <paramref name="sample"/>: random values from <paramref name="seed"/>, pinned values where given.</summary>
    public static Dictionary<string, TensorValue> Generate(IReadOnlyList<TensorInfo> inputs, IReadOnlyDictionary<string, long[]>? pinned, int seed,
        IReadOnlyDictionary<string, IReadOnlyList<IReadOnlyList<double>>>? values = null, int sample = 0)
    {
        var random = new Random(seed);
        var feeds = new Dictionary<string, TensorValue>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            long[] shape = Shape(input, pinned);
            long count = 1;
            foreach (var d in shape) count = checked(count * d);
            if (values is not null && values.TryGetValue(input.Name, out var cycle) && cycle.Count > 0)
            {
                if (IsRandom(input.ElementType)) Fill(input, count, random);
                feeds[input.Name] = new TensorValue(input.ElementType, shape, Encode(input, cycle[sample % cycle.Count], count));
            }
            else
            {
                feeds[input.Name] = new TensorValue(input.ElementType, shape, Fill(input, count, random));
            }
        }
        return feeds;
    }

    /// <summary>The shape generated for <paramref name="input"/>: the pinned one, else the declared one with free dimensions 1.</summary>
    public static long[] Shape(TensorInfo input, IReadOnlyDictionary<string, long[]>? pinned)
    {
        long[] shape = pinned is not null && pinned.TryGetValue(input.Name, out var pin) ? pin : input.Shape.Select(d => d < 0 ? 1 : d).ToArray();
        if (shape.Length != input.Shape.Length)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                $"input '{input.Name}' has rank {input.Shape.Length} but its pinned shape has {shape.Length} dimensions");
        return shape;
    }

    /// <summary>
    /// Why <paramref name="value"/> cannot be pinned for <paramref name="input"/> of <paramref name="count"/> elements,
    /// or null when it fits: one number or one per element, each exactly representable in the input's element type.
    /// </summary>
    public static string? Misfit(TensorInfo input, IReadOnlyList<double> value, long count)
    {
        if (value.Count != 1 && value.Count != count)
            return $"input '{input.Name}' has {count} element(s); a value is one number for all of them or {count} numbers, not {value.Count}";
        var (low, high, integral, type) = input.ElementType switch
        {
            1 => (-(double)float.MaxValue, (double)float.MaxValue, false, "float32"),
            10 => (-65504.0, 65504.0, false, "float16"),
            11 => (double.MinValue, double.MaxValue, false, "float64"),
            7 => (-9007199254740992.0, 9007199254740992.0, true, "int64"),
            6 => ((double)int.MinValue, (double)int.MaxValue, true, "int32"),
            3 => (-128.0, 127.0, true, "int8"),
            2 => (0.0, 255.0, true, "uint8"),
            9 => (0.0, 1.0, true, "bool"),
            _ => (0.0, 0.0, false, ""),
        };
        if (type.Length == 0) return $"input '{input.Name}' has element type {input.ElementType}, whose values cannot be pinned";
        foreach (var v in value)
        {
            if (v < low || v > high) return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"input '{input.Name}' is {type}; {v} lies outside {low}..{high}");
            if (integral && v != Math.Floor(v)) return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"input '{input.Name}' is {type}; {v} is not an integer");
        }
        return null;
    }

    private static bool IsRandom(int elementType) => elementType is 1 or 10 or 7 or 6 or 9;

    // The pinned numbers as the input's element type: one number repeated, or one per element.
    private static byte[] Encode(TensorInfo input, IReadOnlyList<double> value, long count)
    {
        if (Misfit(input, value, count) is { } problem) throw new CompressTasksException(DiagnosticCodes.VerificationInputs, problem);
        var numbers = new double[count];
        if (value.Count == 1) numbers.AsSpan().Fill(value[0]);
        else for (int i = 0; i < numbers.Length; i++) numbers[i] = value[i];
        return input.ElementType switch
        {
            1 => Bytes(numbers, v => (float)v),
            10 => Bytes(numbers, v => (Half)v),
            11 => Bytes(numbers, v => v),
            7 => Bytes(numbers, v => (long)v),
            6 => Bytes(numbers, v => (int)v),
            3 => Bytes(numbers, v => (sbyte)v),
            _ => Bytes(numbers, v => (byte)v),
        };
    }

    private static byte[] Bytes<T>(double[] numbers, Func<double, T> convert) where T : unmanaged
    {
        var typed = new T[numbers.Length];
        for (int i = 0; i < typed.Length; i++) typed[i] = convert(numbers[i]);
        return System.Runtime.InteropServices.MemoryMarshal.AsBytes(typed.AsSpan()).ToArray();
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
