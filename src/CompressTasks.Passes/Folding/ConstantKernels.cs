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
/// element type; indexing kernels are in <c>ConstantKernels.Indexing.cs</c>, arithmetic in <c>ConstantKernels.Math.cs</c>.
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
}
