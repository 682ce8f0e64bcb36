using CompressTasks.Graphs;

namespace CompressTasks.Passes.Folding;

/// <summary>What a kernel sees: the node, its inputs (null where omitted), the opset and the size limit.</summary>
internal sealed class KernelContext(Node node, FoldedTensor?[] inputs, long opset, long maxElements)
{
    public Node Node { get; } = node;

    public FoldedTensor?[] Inputs { get; } = inputs;

    public long Opset { get; } = opset;

    /// <summary>Why the kernel gave up; set together with returning null.</summary>
    public string Reason { get; private set; } = "";

    public FoldedTensor? Input(int i) => i < Inputs.Length ? Inputs[i] : null;

    /// <summary>Records why the node is not folded and returns null, so kernels can <c>return Fail(...)</c>.</summary>
    public FoldedTensor? Fail(string reason)
    {
        Reason = reason;
        return null;
    }

    /// <summary>Whether an output of <paramref name="dims"/> may be materialized (checked before allocating it).</summary>
    public bool Fits(long[] dims, out string reason)
    {
        long n = FoldedTensor.ElementCount(dims);
        reason = n < 0 ? $"negative dimension in [{string.Join(",", dims)}]" : $"its output would hold {n:N0} elements (max-elements {maxElements:N0})";
        return n >= 0 && n <= maxElements;
    }

    /// <summary>Axes from the attribute (before <paramref name="inputSince"/>) or from input 1 (from then on); null when absent.</summary>
    public long[]? Axes(long inputSince) =>
        Opset < inputSince ? Node.GetInts("axes")?.ToArray() : Input(1)?.ToInt64();
}

/// <summary>
/// The operators <see cref="FoldConstants"/> can evaluate, as a plain table from op type to kernel. Each kernel
/// follows the ONNX specification of the opset the model imports and gives up (with a reason) on anything it does
/// not handle exactly, so a fold never changes a model's outputs. Data-movement kernels work on any whole-byte
/// element type; arithmetic kernels are in <c>ConstantKernels.Math.cs</c>.
/// </summary>
internal static partial class ConstantKernels
{
    public delegate FoldedTensor? Kernel(KernelContext context);

    public static IReadOnlyDictionary<string, Kernel> Table { get; } = new Dictionary<string, Kernel>
    {
        ["Shape"] = Shape,
        ["Size"] = c => FoldedTensor.FromInt64([], [c.Inputs[0]!.Count]),
        ["Identity"] = c => Movable(c, 0) is { } x ? x with { Bytes = x.Bytes.ToArray() } : null,
        ["Reshape"] = Reshape,
        ["Unsqueeze"] = Unsqueeze,
        ["Squeeze"] = Squeeze,
        ["Concat"] = Concat,
        ["Gather"] = Gather,
        ["Slice"] = Slice,
        ["Transpose"] = Transpose,
        ["Expand"] = Expand,
        ["Cast"] = Cast,
        ["Add"] = c => Binary(c, (a, b) => a + b, (a, b) => a + b),
        ["Sub"] = c => Binary(c, (a, b) => a - b, (a, b) => a - b),
        ["Mul"] = c => Binary(c, (a, b) => a * b, (a, b) => a * b),
        ["Div"] = c => Binary(c, (a, b) => a / b, (a, b) => a / b),
        ["Neg"] = c => Unary(c, a => -a, a => -a),
        ["Sqrt"] = c => Unary(c, Math.Sqrt, null),
        ["Range"] = Range,
        ["ConstantOfShape"] = ConstantOfShape,
    };

    private static FoldedTensor? Movable(KernelContext c, int i) =>
        c.Input(i) is { IsMovable: true } x ? x : c.Fail($"input {i} is missing or not of a fixed-size type");

    private static FoldedTensor? Shape(KernelContext c)
    {
        var dims = c.Inputs[0]!.Dims;
        long rank = dims.Length, start = 0, end = rank;
        if (c.Opset >= 15)
        {
            start = Clamp(c.Node.GetInt("start", 0), rank);
            end = Clamp(c.Node.GetInt("end", rank), rank);
        }
        var values = dims[(int)start..(int)Math.Max(start, end)];
        return FoldedTensor.FromInt64([values.Length], values);
    }

    private static long Clamp(long axis, long rank) => Math.Clamp(axis < 0 ? axis + rank : axis, 0, rank);

    private static FoldedTensor? WithDims(KernelContext c, FoldedTensor x, long[] dims) =>
        FoldedTensor.ElementCount(dims) == x.Count ? x with { Dims = dims, Bytes = x.Bytes.ToArray() } : c.Fail($"cannot reshape [{string.Join(",", x.Dims)}] to [{string.Join(",", dims)}]");

    private static FoldedTensor? Reshape(KernelContext c)
    {
        if (Movable(c, 0) is not { } x) return null;
        var shape = c.Opset < 5 ? c.Node.GetInts("shape")?.ToArray() : c.Input(1)?.ToInt64();
        if (shape is null) return c.Fail("no shape");
        bool allowZero = c.Opset >= 14 && c.Node.GetInt("allowzero", 0) != 0;
        var dims = new long[shape.Length];
        int infer = -1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == -1) { if (infer >= 0) return c.Fail("two -1 dims"); infer = i; dims[i] = 1; }
            else if (shape[i] == 0 && !allowZero) { if (i >= x.Dims.Length) return c.Fail("0 past the input's rank"); dims[i] = x.Dims[i]; }
            else if (shape[i] < 0) return c.Fail($"invalid dim {shape[i]}");
            else dims[i] = shape[i];
        }
        if (infer >= 0)
        {
            long rest = FoldedTensor.ElementCount(dims);
            if (rest == 0 || x.Count % rest != 0) return c.Fail("cannot infer the -1 dim");
            dims[infer] = x.Count / rest;
        }
        return WithDims(c, x, dims);
    }

    private static FoldedTensor? Unsqueeze(KernelContext c)
    {
        if (Movable(c, 0) is not { } x) return null;
        if (c.Axes(13) is not { } axes) return c.Fail("no axes");
        int rank = x.Dims.Length + axes.Length;
        var inserted = new bool[rank];
        foreach (var a in axes)
        {
            long axis = a < 0 ? a + rank : a;
            if (axis < 0 || axis >= rank || inserted[axis]) return c.Fail($"invalid axes [{string.Join(",", axes)}]");
            inserted[axis] = true;
        }
        var dims = new long[rank];
        for (int i = 0, j = 0; i < rank; i++) dims[i] = inserted[i] ? 1 : x.Dims[j++];
        return WithDims(c, x, dims);
    }

    private static FoldedTensor? Squeeze(KernelContext c)
    {
        if (Movable(c, 0) is not { } x) return null;
        var axes = c.Axes(13);
        int rank = x.Dims.Length;
        var removed = new bool[rank];
        if (axes is null) for (int i = 0; i < rank; i++) removed[i] = x.Dims[i] == 1;
        else
        {
            foreach (var a in axes)
            {
                long axis = a < 0 ? a + rank : a;
                if (axis < 0 || axis >= rank || x.Dims[axis] != 1) return c.Fail($"cannot squeeze axes [{string.Join(",", axes)}] of [{string.Join(",", x.Dims)}]");
                removed[axis] = true;
            }
        }
        return WithDims(c, x, x.Dims.Where((_, i) => !removed[i]).ToArray());
    }

    private static FoldedTensor? Concat(KernelContext c)
    {
        var first = Movable(c, 0);
        if (first is null) return null;
        int rank = first.Dims.Length;
        long axis = c.Node.GetInt("axis", long.MinValue);
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank) return c.Fail("invalid axis");
        var dims = (long[])first.Dims.Clone();
        dims[axis] = 0;
        for (int i = 0; i < c.Inputs.Length; i++)
        {
            if (Movable(c, i) is not { } x) return null;
            if (x.DataType != first.DataType || x.Dims.Length != rank) return c.Fail("inputs differ in type or rank");
            for (int k = 0; k < rank; k++)
                if (k != axis && x.Dims[k] != first.Dims[k]) return c.Fail("inputs differ in shape");
            dims[axis] += x.Dims[axis];
        }
        if (!c.Fits(dims, out var why)) return c.Fail(why);
        long outer = FoldedTensor.ElementCount(dims.AsSpan(0, (int)axis));
        var bytes = new byte[FoldedTensor.ElementCount(dims) * first.ElementSize];
        int at = 0;
        for (long o = 0; o < outer; o++)
        {
            foreach (var x in c.Inputs)
            {
                int chunk = (int)(x!.Count / Math.Max(outer, 1)) * x.ElementSize;
                x.Bytes.Span.Slice((int)(o * chunk), chunk).CopyTo(bytes.AsSpan(at));
                at += chunk;
            }
        }
        return new FoldedTensor(first.DataType, dims, bytes);
    }

    private static FoldedTensor? Gather(KernelContext c)
    {
        if (Movable(c, 0) is not { } data) return null;
        if (c.Input(1)?.ToInt64() is not { } indices) return c.Fail("indices are not integers");
        int rank = data.Dims.Length;
        long axis = c.Node.GetInt("axis", 0);
        if (axis < 0) axis += rank;
        if (axis < 0 || axis >= rank) return c.Fail("invalid axis");
        long extent = data.Dims[axis];
        long[] dims = [.. data.Dims[..(int)axis], .. c.Inputs[1]!.Dims, .. data.Dims[((int)axis + 1)..]];
        if (!c.Fits(dims, out var why)) return c.Fail(why);
        long outer = FoldedTensor.ElementCount(data.Dims.AsSpan(0, (int)axis));
        long inner = FoldedTensor.ElementCount(data.Dims.AsSpan((int)axis + 1));
        var map = new long[FoldedTensor.ElementCount(dims)];
        int at = 0;
        for (long o = 0; o < outer; o++)
            foreach (var raw in indices)
            {
                long index = raw < 0 ? raw + extent : raw;
                if (index < 0 || index >= extent) return c.Fail($"index {raw} is out of range");
                for (long k = 0; k < inner; k++) map[at++] = (o * extent + index) * inner + k;
            }
        return data.Take(dims, map);
    }

    private static FoldedTensor? Slice(KernelContext c)
    {
        if (Movable(c, 0) is not { } x) return null;
        int rank = x.Dims.Length;
        long[]? starts, ends, axes, steps;
        if (c.Opset < 10) (starts, ends, axes, steps) = (c.Node.GetInts("starts")?.ToArray(), c.Node.GetInts("ends")?.ToArray(), c.Node.GetInts("axes")?.ToArray(), null);
        else (starts, ends, axes, steps) = (c.Input(1)?.ToInt64(), c.Input(2)?.ToInt64(), c.Input(3)?.ToInt64(), c.Input(4)?.ToInt64());
        if (starts is null || ends is null || starts.Length != ends.Length) return c.Fail("starts and ends do not match");
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        steps ??= Enumerable.Repeat(1L, starts.Length).ToArray();
        if (axes.Length != starts.Length || steps.Length != starts.Length) return c.Fail("axes or steps do not match starts");
        var dims = (long[])x.Dims.Clone();
        var own = FoldedTensor.Strides(x.Dims);
        var strides = (long[])own.Clone();
        var seen = new bool[rank];
        long offset = 0;
        for (int i = 0; i < starts.Length; i++)
        {
            long axis = axes[i] < 0 ? axes[i] + rank : axes[i];
            if (axis < 0 || axis >= rank || seen[axis] || steps[i] == 0) return c.Fail("invalid axes or steps");
            seen[axis] = true;
            long d = x.Dims[axis], step = steps[i];
            long start = starts[i] < 0 ? starts[i] + d : starts[i], end = ends[i] < 0 ? ends[i] + d : ends[i];
            long count;
            if (step > 0)
            {
                start = Math.Clamp(start, 0, d);
                end = Math.Clamp(end, 0, d);
                count = end > start ? (end - start + step - 1) / step : 0;
            }
            else
            {
                start = Math.Clamp(start, 0, d - 1);
                end = Math.Clamp(end, -1, d - 1);
                count = start > end ? (start - end - step - 1) / -step : 0;
            }
            dims[axis] = count;
            strides[axis] = own[axis] * step;
            if (count > 0) offset += start * own[axis];
        }
        return c.Fits(dims, out var why) ? x.Take(dims, FoldedTensor.Map(dims, strides, offset)) : c.Fail(why);
    }

    private static FoldedTensor? Transpose(KernelContext c)
    {
        if (Movable(c, 0) is not { } x) return null;
        int rank = x.Dims.Length;
        var perm = c.Node.GetInts("perm")?.ToArray() ?? Enumerable.Range(0, rank).Reverse().Select(i => (long)i).ToArray();
        if (perm.Length != rank || perm.Distinct().Count() != rank || perm.Any(p => p < 0 || p >= rank)) return c.Fail("invalid perm");
        var own = FoldedTensor.Strides(x.Dims);
        var dims = perm.Select(p => x.Dims[p]).ToArray();
        var strides = perm.Select(p => own[p]).ToArray();
        return x.Take(dims, FoldedTensor.Map(dims, strides));
    }

    private static FoldedTensor? Expand(KernelContext c)
    {
        if (Movable(c, 0) is not { } x) return null;
        if (c.Input(1)?.ToInt64() is not { } shape) return c.Fail("no shape");
        if (FoldedTensor.Broadcast(x.Dims, shape) is not { } dims) return c.Fail("shapes do not broadcast");
        return c.Fits(dims, out var why) ? x.Take(dims, FoldedTensor.Map(dims, FoldedTensor.BroadcastStrides(x.Dims, dims))) : c.Fail(why);
    }
}
