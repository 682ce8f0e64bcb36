using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Folding;

// Gather, Slice, Transpose and Expand: each output element reads one input element, found through an index map
// (FoldedTensor.Map) so any whole-byte element type works.
internal static partial class ConstantKernels
{
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
        if (StaticShapes.Broadcast(x.Dims, shape) is not { } dims) return c.Fail("shapes do not broadcast");
        return c.Fits(dims, out var why) ? x.Take(dims, FoldedTensor.Map(dims, FoldedTensor.BroadcastStrides(x.Dims, dims))) : c.Fail(why);
    }
}
