using CompressTasks.Graphs;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>Output shapes of shape-changing ops from static input shapes, following the ONNX operator definitions; null when invalid or unknown.</summary>
public static class ShapeMath
{
    /// <summary>Reshape: 0 copies the input dim (unless <paramref name="allowZero"/>), one -1 takes what is left.</summary>
    public static long[]? Reshape(long[] input, long[] target, bool allowZero)
    {
        long total = Product(input);
        var result = new long[target.Length];
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < target.Length; i++)
        {
            long d = target[i];
            if (d == 0 && !allowZero)
            {
                if (i >= input.Length) return null;
                d = input[i];
            }
            if (d == -1)
            {
                if (inferred >= 0) return null;
                inferred = i;
                continue;
            }
            if (d < 0) return null;
            result[i] = d;
            known *= d;
        }
        if (inferred >= 0)
        {
            if (known == 0 || total % known != 0) return null;
            result[inferred] = total / known;
        }
        else if (known != total) return null;
        return result;
    }

    /// <summary>Flatten to [∏ dims before axis, ∏ dims from axis].</summary>
    public static long[]? Flatten(long[] input, long axis)
    {
        if (axis < 0) axis += input.Length;
        if (axis < 0 || axis > input.Length) return null;
        return [Product(input.AsSpan(0, (int)axis)), Product(input.AsSpan((int)axis))];
    }

    /// <summary>Squeeze the listed axes (each must be 1), or every 1 when <paramref name="axes"/> is empty.</summary>
    public static long[]? Squeeze(long[] input, long[] axes)
    {
        var drop = new bool[input.Length];
        if (axes.Length == 0)
            for (int i = 0; i < input.Length; i++) drop[i] = input[i] == 1;
        foreach (var a in axes)
        {
            long axis = a < 0 ? a + input.Length : a;
            if (axis < 0 || axis >= input.Length || input[axis] != 1) return null;
            drop[axis] = true;
        }
        var result = new List<long>(input.Length);
        for (int i = 0; i < input.Length; i++)
            if (!drop[i]) result.Add(input[i]);
        return [.. result];
    }

    /// <summary>Unsqueeze: insert 1s at the listed axes of the output.</summary>
    public static long[]? Unsqueeze(long[] input, long[] axes)
    {
        int rank = input.Length + axes.Length;
        var insert = new bool[rank];
        foreach (var a in axes)
        {
            long axis = a < 0 ? a + rank : a;
            if (axis < 0 || axis >= rank || insert[axis]) return null;
            insert[axis] = true;
        }
        var result = new long[rank];
        for (int i = 0, j = 0; i < rank; i++) result[i] = insert[i] ? 1 : input[j++];
        return result;
    }

    /// <summary>Conv/MaxPool/AveragePool output shape for explicit pads (auto_pad NOTSET or VALID).</summary>
    public static long[]? Window(Node node, long[] x, long[]? weight)
    {
        int spatial = x.Length - 2;
        if (spatial < 1) return null;
        var autoPad = node.GetString("auto_pad", "NOTSET");
        if (autoPad is not ("NOTSET" or "VALID")) return null;
        var kernel = node.GetInts("kernel_shape")?.ToArray() ?? weight?[2..];
        if (kernel is null || kernel.Length != spatial) return null;
        var strides = node.GetInts("strides")?.ToArray() ?? Enumerable.Repeat(1L, spatial).ToArray();
        var dilations = node.GetInts("dilations")?.ToArray() ?? Enumerable.Repeat(1L, spatial).ToArray();
        var pads = autoPad == "VALID" ? new long[2 * spatial] : node.GetInts("pads")?.ToArray() ?? new long[2 * spatial];
        if (strides.Length != spatial || dilations.Length != spatial || pads.Length != 2 * spatial) return null;
        bool ceil = node.GetInt("ceil_mode", 0) != 0;
        var result = new long[x.Length];
        result[0] = x[0];
        result[1] = weight is null ? x[1] : weight[0];
        for (int i = 0; i < spatial; i++)
        {
            long span = x[i + 2] + pads[i] + pads[i + spatial] - ((kernel[i] - 1) * dilations[i] + 1);
            if (span < 0 || strides[i] <= 0) return null;
            result[i + 2] = (ceil ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1;
        }
        return result;
    }

    /// <summary>The number of elements of a shape.</summary>
    public static long Product(ReadOnlySpan<long> dims)
    {
        long p = 1;
        foreach (var d in dims) p *= d;
        return p;
    }
}
