using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// A weight quantized by <see cref="QuantizeWeightsInt4"/>: codes [N, K] (one 4-bit code per byte, 0…15) with
/// parameters [N, ⌈K/B⌉], the layout <see cref="Int4Quantization"/> computes and both stored formats are packed from.
/// </summary>
/// <remarks>
/// <paramref name="PerChannel"/>: a Conv kernel [M, K…] with one block of K per output channel (stored per axis 0).
/// <paramref name="ConvBlocks"/>: a Conv kernel [M, C/g, k…] in blocks of B input channels at each kernel position,
/// codes in the kernel's layout and parameters already [M, ⌈(C/g)/B⌉, k…] (<see cref="Int4ConvBlocks"/>).
/// </remarks>
internal sealed record Int4Weight(Constant Constant, int KAxis, int K, int N, int BlockSize, bool Symmetric, byte[] Codes, float[] Scales, byte[] ZeroPoints,
    bool PerChannel = false, bool ConvBlocks = false)
{
    public int Blocks => Int4Quantization.BlockCount(K, BlockSize);

    /// <summary>Round to nearest, block by block (the plain path).</summary>
    public static Int4Weight From(Constant constant, int kAxis, int blockSize, bool symmetric)
    {
        int k = (int)constant.Dims[kAxis], n = (int)constant.Dims[1 - kAxis];
        var values = constant.AsFloat();
        float[]? rows = null;
        if (kAxis == 0)
        {
            // [K, N] → [N, K], so every block is contiguous.
            rows = new float[values.Length];
            Int4Quantization.Transpose(values, k, n, rows);
        }
        ReadOnlySpan<float> source = rows ?? values;
        int count = n * Int4Quantization.BlockCount(k, blockSize);
        var scales = new float[count];
        var zeroPoints = new byte[count];
        var codes = new byte[source.Length];
        Int4Quantization.ComputeParameters(source, n, k, blockSize, symmetric, scales, zeroPoints);
        Int4Quantization.Quantize(source, n, k, blockSize, scales, zeroPoints, codes);
        return new Int4Weight(constant, kAxis, k, n, blockSize, symmetric, codes, scales, zeroPoints);
    }

    /// <summary>
    /// What a 4-bit quantizer with groups of <paramref name="blockSize"/> rows (GPTQ) left for the weight's [K, N]
    /// view; its round to nearest is exactly <see cref="From"/> (see <see cref="Int4BlockLayout"/>).
    /// </summary>
    public static Int4Weight From(Constant constant, int kAxis, int blockSize, LinearWeightQuantizer quantizer)
    {
        int k = quantizer.Rows, n = quantizer.Columns;
        if (quantizer.GroupSize != Math.Min(blockSize, k) || (int)constant.Dims[kAxis] != k)
            throw new ArgumentException($"a quantizer for [{k}, {n}] in groups of {quantizer.GroupSize} does not fit '{constant.Name}' in blocks of {blockSize}", nameof(quantizer));
        var codes = new byte[quantizer.Codes.Length];
        var scales = new float[quantizer.Scales.Length];
        var zeroPoints = new byte[quantizer.ZeroPoints.Length];
        Int4BlockLayout.FromQuantizer(quantizer, codes, scales, zeroPoints);
        return new Int4Weight(constant, kAxis, k, n, blockSize, quantizer.Symmetric, codes, scales, zeroPoints);
    }

    /// <summary>A Conv kernel [M, C/g, kH, kW] rounded to nearest, one 4-bit scale per output channel (a block of K = C/g·kH·kW).</summary>
    public static Int4Weight FromConv(Constant constant, bool symmetric)
    {
        int n = (int)constant.Dims[0], k = (int)(constant.ElementCount / n);
        var values = constant.AsFloat();
        var scales = new float[n];
        var zeroPoints = new byte[n];
        var codes = new byte[values.Length];
        Int4Quantization.ComputeParameters(values, n, k, k, symmetric, scales, zeroPoints);
        Int4Quantization.Quantize(values, n, k, k, scales, zeroPoints, codes);
        return new Int4Weight(constant, 1, k, n, k, symmetric, codes, scales, zeroPoints, PerChannel: true);
    }

    /// <summary>
    /// A Conv kernel as <paramref name="reconstruction"/> (GPTQ, bias correction) leaves it, group by group, one
    /// 4-bit scale per output channel; null (with a note) when it must be rounded to nearest instead.
    /// </summary>
    public static Int4Weight? FromConv(Constant constant, bool symmetric, WeightReconstruction reconstruction, PassResult result)
    {
        int n = (int)constant.Dims[0], k = (int)(constant.ElementCount / n);
        var codes = new byte[constant.ElementCount];
        var scales = new float[n];
        var zeroPoints = new byte[n];
        bool done = reconstruction.ReconstructGroups(constant, (rows, columns) => new LinearWeightQuantizer(rows, columns, 4, symmetric, rows), (layer, g, quantizer) =>
        {
            int m = layer.GroupColumns;
            // Group g's output channels are rows g·m … of the stored [M, K]: its codes [m, K] are contiguous there.
            Int4BlockLayout.FromQuantizer(quantizer, codes.AsSpan(g * m * k, m * k), scales.AsSpan(g * m, m), zeroPoints.AsSpan(g * m, m));
        }, result);
        return done ? new Int4Weight(constant, 1, k, n, k, symmetric, codes, scales, zeroPoints, PerChannel: true) : null;
    }
}
