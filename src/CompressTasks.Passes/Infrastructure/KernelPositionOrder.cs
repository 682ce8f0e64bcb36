using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// A Conv's patch features (the rows of its [K, N] view, <see cref="LinearWeight"/>) regrouped by kernel position.
/// </summary>
/// <remarks>
/// <code>
///   patches (ConvPatches):  row c·S + s         c &lt; C/g input channels, s &lt; S = kH·kW kernel positions
///   reordered:              row s·C' + c        C' = C/g rounded up to a multiple of align; rows c ≥ C/g are zero
/// </code>
/// What N:M pruning and int4 DequantizeLinear blocks along axis 1 treat as one run, the input channels at one kernel
/// position, is strided by S in patch order; reordered, it is contiguous, so fixed-size row groups (SparseGPT's N:M
/// groups, GPTQ's quantization groups) never straddle two positions. Padding rows are zero in W and zero rows and
/// columns in H: dead inputs, which GPTQ and SparseGPT decouple, and a zero changes no int4 block's scale or zero
/// point (both ranges contain 0), so they only pad.
/// </remarks>
public sealed class KernelPositionOrder
{
    private readonly int[] _source; // _source[p] = the patch row at reordered row p, or −1 for padding

    /// <summary>The order for <paramref name="channels"/> input channels (C/g) at <paramref name="positions"/> kernel positions, channels padded to a multiple of <paramref name="align"/>.</summary>
    public KernelPositionOrder(int channels, int positions, int align = 1)
    {
        if (channels < 1 || positions < 1 || align < 1) throw new ArgumentOutOfRangeException(nameof(channels), $"{channels} channels, {positions} positions, align {align}");
        Channels = channels;
        Positions = positions;
        PaddedChannels = (channels + align - 1) / align * align;
        _source = new int[positions * PaddedChannels];
        for (int s = 0; s < positions; s++)
            for (int c = 0; c < PaddedChannels; c++) _source[s * PaddedChannels + c] = c < channels ? c * positions + s : -1;
    }

    /// <summary>The order of a Conv weight [M, C/g, k…] (C/g channels, S = Πk positions).</summary>
    public static KernelPositionOrder Of(LinearWeight layer, int align = 1)
    {
        var dims = layer.Constant.Dims;
        int channels = (int)dims[1];
        return new KernelPositionOrder(channels, layer.Rows / channels, align);
    }

    /// <summary>C/g.</summary>
    public int Channels { get; }

    /// <summary>S = kH·kW (the product of the kernel's spatial dims).</summary>
    public int Positions { get; }

    /// <summary>Channels per position after padding, a multiple of align.</summary>
    public int PaddedChannels { get; }

    /// <summary>Reordered rows, S · PaddedChannels.</summary>
    public int Rows => _source.Length;

    /// <summary>Rows [K, n] in patch order → [Rows, n] reordered (padding zero).</summary>
    public float[] Gather(ReadOnlySpan<float> rows, int n)
    {
        var result = new float[Rows * n];
        for (int p = 0; p < Rows; p++)
            if (_source[p] >= 0) rows.Slice(_source[p] * n, n).CopyTo(result.AsSpan(p * n, n));
        return result;
    }

    /// <summary>H [K, K] in patch order → a new [Rows, Rows] matrix reordered (padding rows and columns zero).</summary>
    public SymmetricMatrix Gather(SymmetricMatrix h)
    {
        if (h.Order != Channels * Positions) throw new ArgumentException($"H must be [{Channels * Positions}, {Channels * Positions}]", nameof(h));
        return h.Permuted(_source);
    }

    /// <summary>
    /// <paramref name="h"/> reordered for a caller that gives it up (GPTQ factors H in place): the reordered copy is
    /// returned and <paramref name="h"/> disposed, so the two triangles are held together only while copying.
    /// </summary>
    public SymmetricMatrix Reorder(SymmetricMatrix h)
    {
        var reordered = Gather(h);
        h.Dispose();
        return reordered;
    }

    /// <summary>Reordered rows [Rows, n] → <paramref name="rows"/> [K, n] in patch order (padding dropped).</summary>
    public void Scatter(ReadOnlySpan<float> reordered, Span<float> rows, int n)
    {
        for (int p = 0; p < Rows; p++)
            if (_source[p] >= 0) reordered.Slice(p * n, n).CopyTo(rows.Slice(_source[p] * n, n));
    }
}
