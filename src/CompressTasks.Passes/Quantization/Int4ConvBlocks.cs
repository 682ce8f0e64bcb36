using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// <see cref="QuantizeWeightsInt4"/>'s Conv kernels with <c>conv-blocks: input-channels</c>: int4 in blocks of B
/// input channels at each kernel position, stored as DequantizeLinear with <c>axis = 1, block_size = B</c>.
/// </summary>
/// <remarks>
/// <code>
///   W [M, C/g, kH, kW] ⇒ W_q4: int4|uint4 [M, C/g, kH, kW], W_scale (W_zero_point) [M, ⌈(C/g)/B⌉, kH, kW]
///   block (m, b, i, j) = W[m, b·B … b·B + B − 1, i, j]          the last one shorter when B ∤ C/g
/// </code>
/// Each output channel's [C/g, S] slice (S = kH·kW) is transposed to [S, C/g], so that every block is a contiguous
/// run of a row of C/g values and <see cref="Int4Quantization"/> computes it as it computes MatMul blocks (same
/// formulas, |w' − w| ≤ s/2); codes and parameters are transposed back. GPTQ quantizes the im2col rows regrouped by
/// kernel position (<see cref="KernelPositionOrder"/>, each position's channels padded to a multiple of B with dead
/// zero rows), so its groups of B rows are exactly these blocks.
/// </remarks>
internal static class Int4ConvBlocks
{
    /// <summary>The stored shape of the scales and zero points: [M, ⌈(C/g)/B⌉, k…].</summary>
    public static long[] ParameterDims(IReadOnlyList<long> dims, int blockSize)
    {
        var result = dims.ToArray();
        result[1] = Int4Quantization.BlockCount((int)dims[1], blockSize);
        return result;
    }

    /// <summary>Round to nearest, block by block.</summary>
    public static Int4Weight From(Constant constant, int blockSize, bool symmetric)
    {
        var (m, channels, positions, blocks) = Shape(constant, blockSize);
        var values = constant.AsFloat();
        int slice = channels * positions;
        var rows = new float[values.Length]; // [M, S, C/g]: one row of C/g channels per output channel and position
        for (int o = 0; o < m; o++) Int4Quantization.Transpose(values.Slice(o * slice, slice), channels, positions, rows.AsSpan(o * slice, slice));
        int count = m * positions * blocks;
        var (scales, zeroPoints, codes) = (new float[count], new byte[count], new byte[rows.Length]);
        Int4Quantization.ComputeParameters(rows, m * positions, channels, blockSize, symmetric, scales, zeroPoints);
        Int4Quantization.Quantize(rows, m * positions, channels, blockSize, scales, zeroPoints, codes);
        var w = Empty(constant, blockSize, symmetric);
        Store(w, 0, m, codes, channels, scales, zeroPoints);
        return w;
    }

    /// <summary>
    /// As <paramref name="reconstruction"/> (GPTQ, bias correction) leaves the kernel, group by group; null (with a
    /// note) when it must be rounded to nearest instead.
    /// </summary>
    public static Int4Weight? From(Constant constant, int blockSize, bool symmetric, WeightReconstruction reconstruction, PassResult result)
    {
        var (_, channels, positions, _) = Shape(constant, blockSize);
        var w = Empty(constant, blockSize, symmetric);
        var order = new KernelPositionOrder(channels, positions, blockSize);
        bool done = reconstruction.ReconstructGroups(constant, (rows, columns) => new LinearWeightQuantizer(rows, columns, 4, symmetric, blockSize), (layer, g, quantizer) =>
        {
            // The quantizer's rows are (position, padded channel), its groups (position, block): in the int4 layout
            // [n, S·C'] and [n, S·blocks], which the same transposes as round to nearest's take to the stored one.
            int n = layer.GroupColumns;
            var codes = new byte[quantizer.Codes.Length];
            var (scales, zeroPoints) = (new float[quantizer.Scales.Length], new byte[quantizer.ZeroPoints.Length]);
            Int4BlockLayout.FromQuantizer(quantizer, codes, scales, zeroPoints);
            Store(w, g * n, n, codes, order.PaddedChannels, scales, zeroPoints);
        }, result, order);
        return done ? w : null;
    }

    private static (int M, int Channels, int Positions, int Blocks) Shape(Constant constant, int blockSize)
    {
        int m = (int)constant.Dims[0], channels = (int)constant.Dims[1];
        int positions = (int)(constant.ElementCount / m / channels);
        return (m, channels, positions, Int4Quantization.BlockCount(channels, blockSize));
    }

    // The weight to fill: codes [M, C/g, S] (the kernel's layout), scales and zero points [M, blocks, S].
    private static Int4Weight Empty(Constant constant, int blockSize, bool symmetric)
    {
        var (m, channels, positions, blocks) = Shape(constant, blockSize);
        int count = m * blocks * positions;
        return new Int4Weight(constant, 1, channels * positions, m, blockSize, symmetric, new byte[constant.ElementCount], new float[count], new byte[count], ConvBlocks: true);
    }

    // Output channels first … first + count: codes [count, S, stride] (channels padded to stride) and parameters
    // [count, S, blocks] into w's [M, C/g, S] and [M, blocks, S].
    private static void Store(Int4Weight w, int first, int count, ReadOnlySpan<byte> codes, int stride, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints)
    {
        var (_, channels, positions, blocks) = Shape(w.Constant, w.BlockSize);
        var column = new byte[stride * positions];
        for (int o = 0; o < count; o++)
        {
            Int4Quantization.Transpose(codes.Slice(o * positions * stride, positions * stride), positions, stride, column);
            column.AsSpan(0, channels * positions).CopyTo(w.Codes.AsSpan((first + o) * channels * positions));
            int at = o * positions * blocks, to = (first + o) * blocks * positions;
            Int4Quantization.Transpose(scales.Slice(at, positions * blocks), positions, blocks, w.Scales.AsSpan(to, blocks * positions));
            Int4Quantization.Transpose(zeroPoints.Slice(at, positions * blocks), positions, blocks, w.ZeroPoints.AsSpan(to, blocks * positions));
        }
    }
}
