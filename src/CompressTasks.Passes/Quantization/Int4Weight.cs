using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// A weight quantized by <see cref="QuantizeWeightsInt4"/>: codes [N, K] (one 4-bit code per byte, 0…15) with
/// parameters [N, ⌈K/B⌉], the layout <see cref="Int4Quantization"/> computes and both stored formats are packed from.
/// </summary>
internal sealed record Int4Weight(Constant Constant, int KAxis, int K, int N, int BlockSize, bool Symmetric, byte[] Codes, float[] Scales, byte[] ZeroPoints)
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
}
