
namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// The geometry of a 1-D or 2-D ONNX Conv, as its attributes give it (a 1-D conv is a 2-D one of height 1).
/// <see cref="AutoPad"/> other than NOTSET replaces the pads, which then depend on the input size
/// (<see cref="Resolve"/>).
/// </summary>
public sealed record ConvGeometry(
    int KernelH, int KernelW, int StrideH = 1, int StrideW = 1, int DilationH = 1, int DilationW = 1,
    int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0, string AutoPad = "NOTSET", int Group = 1)
{
    /// <summary>Patch length of one group: C/group · kH · kW, for <paramref name="channels"/> input channels C.</summary>
    public int Features(int channels) => channels / Group * KernelH * KernelW;

    /// <summary>
    /// Pads and output size for an input of <paramref name="height"/> × <paramref name="width"/>:
    /// <code>
    ///   NOTSET: the pads given;  VALID: 0;  SAME_UPPER/LOWER: out = ⌈in / s⌉, total = max(0, (out − 1)·s + (k − 1)·d + 1 − in),
    ///           begin = total / 2 (UPPER, the odd one at the end) or total − total / 2 (LOWER)
    ///   out = ⌊(in + begin + end − (k − 1)·d − 1) / s⌋ + 1
    /// </code>
    /// </summary>
    public (int Top, int Left, int OutH, int OutW) Resolve(int height, int width)
    {
        var (top, outH) = Axis(height, KernelH, StrideH, DilationH, PadTop, PadBottom);
        var (left, outW) = Axis(width, KernelW, StrideW, DilationW, PadLeft, PadRight);
        return (top, left, outH, outW);
    }

    private (int Begin, int Out) Axis(int size, int kernel, int stride, int dilation, int begin, int end)
    {
        int span = (kernel - 1) * dilation + 1;
        if (AutoPad is "SAME_UPPER" or "SAME_LOWER")
        {
            int output = (size + stride - 1) / stride;
            int total = Math.Max(0, (output - 1) * stride + span - size);
            return (AutoPad == "SAME_UPPER" ? total / 2 : total - total / 2, output);
        }
        if (AutoPad == "VALID") begin = end = 0;
        return (begin, Math.Max(0, (size + begin + end - span) / stride + 1));
    }
}

/// <summary>
/// The second moment of a Conv layer's inputs: H = Σ p pᵀ over every im2col patch p of every image and output
/// position, one H per group, and the patch sum. A patch of group g at output position (oh, ow) is
/// <code>
///   p[(c · kH + i) · kW + j] = x[n, g · C/group + c, oh · sH − top + i · dH, ow · sW − left + j · dW]   (0 outside: padding)
/// </code>
/// so feature f runs over (c, i, j) in the order of the weight [M, C/group, kH, kW]: group g's weight rows
/// M/group · g … are W_g [M/group, K] as stored, and the layer output of the group is W_g p.
/// </summary>
/// <remarks>
/// Patches are gathered feature-major ([K, positions], each feature a strided walk of the input) in chunks of at
/// most <see cref="ChunkFloats"/> floats, features shared out over threads, and handed to <see cref="SecondMoment"/>
/// (double [K, K] accumulators, or float <see cref="SymmetricMatrix"/> ones); memory is the accumulators plus one
/// pooled chunk, whatever the number of images, and nothing is allocated per call (the input is read in place, often
/// ONNX Runtime's own output buffer). Chunks run over images too, so small late layers (7 × 7 outputs) still fill
/// long blocks.
/// </remarks>
public static class ConvPatches
{
    /// <summary>Largest gather buffer, in floats (4 MB): pooled, and long enough for 64-patch blocks at K = 16384.</summary>
    public const int ChunkFloats = 1 << 20;

    /// <summary>
    /// Adds the patches of <paramref name="input"/> [N, C, H, W] (a 1-D input [N, C, L] is [N, C, 1, L]) to
    /// <paramref name="h"/> [group, K, K] and <paramref name="sum"/> [group, K]; returns the patches added per group
    /// (N · outH · outW).
    /// </summary>
    public static long Accumulate(ReadOnlySpan<float> input, int images, int channels, int height, int width,
        ConvGeometry geometry, Memory<double> h, Span<double> sum)
    {
        int k = Features(channels, geometry);
        if (h.Length != (long)geometry.Group * k * k) throw new ArgumentException($"accumulators must be [{geometry.Group}, {k}, {k}] and [{geometry.Group}, {k}]");
        return Run(input, images, channels, height, width, geometry, new FullGroups(h), sum);
    }

    /// <summary>
    /// Adds the patches of <paramref name="input"/> [N, C, H, W] to <paramref name="h"/> (one float matrix of order K
    /// per group, only its kept triangle touched) and <paramref name="sum"/> [group, K]; returns the patches added per
    /// group.
    /// </summary>
    public static long Accumulate(ReadOnlySpan<float> input, int images, int channels, int height, int width,
        ConvGeometry geometry, SymmetricMatrix[] h, Span<double> sum)
    {
        ArgumentNullException.ThrowIfNull(h);
        int k = Features(channels, geometry);
        if (h.Length != geometry.Group || Array.Exists(h, m => m is null || m.Order != k))
            throw new ArgumentException($"accumulators must be {geometry.Group} matrices of order {k} and [{geometry.Group}, {k}]");
        return Run(input, images, channels, height, width, geometry, new SymmetricGroups(h), sum);
    }

    private static int Features(int channels, ConvGeometry geometry)
    {
        if (geometry.Group < 1 || channels % geometry.Group != 0) throw new ArgumentException($"{channels} channels do not split into {geometry.Group} groups");
        return geometry.Features(channels);
    }

    // Where a chunk of one group's patches ([K, count], feature-major) goes.
    private interface IGroups
    {
        void Add(int group, ReadOnlySpan<float> columns, int k, Span<double> sum);
    }

    private readonly struct FullGroups(Memory<double> h) : IGroups
    {
        public void Add(int group, ReadOnlySpan<float> columns, int k, Span<double> sum) =>
            SecondMoment.AccumulateTransposed(columns, k, h.Slice(group * k * k, k * k), sum);
    }

    private readonly struct SymmetricGroups(SymmetricMatrix[] h) : IGroups
    {
        public void Add(int group, ReadOnlySpan<float> columns, int k, Span<double> sum) =>
            SecondMoment.AccumulateTransposed(columns, k, h[group], sum);
    }

    private static unsafe long Run<T>(ReadOnlySpan<float> input, int images, int channels, int height, int width,
        ConvGeometry geometry, T target, Span<double> sum) where T : struct, IGroups
    {
        int groups = geometry.Group;
        if (input.Length != (long)images * channels * height * width) throw new ArgumentException($"input must be [{images}, {channels}, {height}, {width}]", nameof(input));
        int k = geometry.Features(channels);
        if (sum.Length != groups * k) throw new ArgumentException($"the sum must be [{groups}, {k}]", nameof(sum));
        var (top, left, outH, outW) = geometry.Resolve(height, width);
        int positions = outH * outW;
        if (positions == 0 || images == 0) return 0;
        long total = (long)images * positions;
        int chunk = (int)Math.Min(total, Math.Max(64, ChunkFloats / k));
        var buffer = ScratchBuffers.Rent<float>(k * chunk);
        var layout = new Layout(geometry, channels / groups, height, width, top, left, outW, positions);
        try
        {
            fixed (float* pointer = input)
            {
                // Parallel.For cannot capture a span: the gathers share the input through its pinned address.
                var shared = new PinnedSpan<float>(pointer, input.Length);
                bool parallel = (long)k * chunk >= 1 << 16;
                for (int g = 0; g < groups; g++)
                {
                    for (long start = 0; start < total; start += chunk)
                    {
                        int count = (int)Math.Min(chunk, total - start);
                        Gather(shared, parallel, channels, g, layout, start, count, buffer, k);
                        target.Add(g, buffer.AsSpan(0, k * count), k, sum.Slice(g * k, k));
                    }
                }
            }
        }
        finally
        {
            ScratchBuffers.Return(buffer);
        }
        return total;
    }

    private readonly record struct Layout(ConvGeometry G, int GroupChannels, int Height, int Width, int Top, int Left, int OutW, int Positions);

    // buffer[f · count + r] = feature f of patch (start + r), patches numbered image-major then row-major positions.
    private static void Gather(PinnedSpan<float> input, bool parallel, int channels, int group, Layout layout, long start, int count, float[] buffer, int k)
    {
        if (!parallel)
        {
            for (int f = 0; f < k; f++) GatherFeature(input.Span, channels, group, layout, start, count, buffer.AsSpan(f * count, count), f);
            return;
        }
        Parallel.For(0, k, f => GatherFeature(input.Span, channels, group, layout, start, count, buffer.AsSpan(f * count, count), f));
    }

    private static void GatherFeature(ReadOnlySpan<float> input, int channels, int group, Layout l, long start, int count, Span<float> target, int f)
    {
        var g = l.G;
        int j = f % g.KernelW, i = f / g.KernelW % g.KernelH, c = f / (g.KernelW * g.KernelH);
        int plane = l.Height * l.Width;
        for (int r = 0; r < count;)
        {
            long patch = start + r;
            int image = (int)(patch / l.Positions), position = (int)(patch % l.Positions);
            int oh = position / l.OutW, ow = position % l.OutW;
            // One output row at a time: the run of patches sharing (image, oh).
            int run = Math.Min(count - r, l.OutW - ow);
            int ih = oh * g.StrideH - l.Top + i * g.DilationH;
            var row = target.Slice(r, run);
            if ((uint)ih >= (uint)l.Height) row.Clear();
            else
            {
                var source = input.Slice(((image * channels) + group * l.GroupChannels + c) * plane + ih * l.Width, l.Width);
                int iw = ow * g.StrideW - l.Left + j * g.DilationW;
                for (int q = 0; q < run; q++, iw += g.StrideW) row[q] = (uint)iw < (uint)l.Width ? source[iw] : 0f;
            }
            r += run;
        }
    }
}
