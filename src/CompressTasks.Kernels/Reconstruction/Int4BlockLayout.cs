using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Moves what a 4-bit <see cref="LinearWeightQuantizer"/> with groups of B rows produced (GPTQ, or its round to
/// nearest) into <see cref="Int4Quantization"/>'s block layout, so the int4 pass packs it as it packs its own.
/// </summary>
/// <remarks>
/// <code>
///   quantizer (MatMul layout):  codes [K, N]   scales, zero points [⌈K/B⌉, N]   symmetric q ∈ [−7, 7] (two's complement), z = 0
///   Int4Quantization:           codes [N, K]   scales, zero points [N, ⌈K/B⌉]   c = q + 8 ∈ [1, 15], z = 8
/// </code>
/// Both use the same formulas (s = max|w|/7 or range/15, round half to even, an all-zero block gets s = 1), so for
/// round to nearest the result is exactly <see cref="Int4Quantization.ComputeParameters"/> and
/// <see cref="Int4Quantization.Quantize"/> on the transposed weight, bit for bit. Asymmetric codes and zero points
/// are already unsigned 4-bit values and are only transposed.
/// </remarks>
public static class Int4BlockLayout
{
    /// <summary>
    /// Writes <paramref name="codes"/> [N, K] (0…15, one per byte), <paramref name="scales"/> and
    /// <paramref name="zeroPoints"/> [N, ⌈K/B⌉] from a 4-bit <paramref name="quantizer"/> whose groups are the blocks.
    /// </summary>
    public static void FromQuantizer(LinearWeightQuantizer quantizer, Span<byte> codes, Span<float> scales, Span<byte> zeroPoints)
    {
        ArgumentNullException.ThrowIfNull(quantizer);
        if (quantizer.Bits != 4) throw new ArgumentException($"a {quantizer.Bits}-bit quantizer has no int4 layout", nameof(quantizer));
        int k = quantizer.Rows, n = quantizer.Columns, blocks = quantizer.Groups;
        if (codes.Length != quantizer.Codes.Length) throw new ArgumentException($"{codes.Length} codes for [{n}, {k}]", nameof(codes));
        if (scales.Length != blocks * n || zeroPoints.Length != blocks * n)
            throw new ArgumentException($"{scales.Length} scales and {zeroPoints.Length} zero points for [{n}, {blocks}]");
        Int4Quantization.Transpose<byte>(quantizer.Codes, k, n, codes);
        Int4Quantization.Transpose<float>(quantizer.Scales, blocks, n, scales);
        if (quantizer.Symmetric)
        {
            // q + 8 in byte arithmetic: a two's complement q ∈ [−7, −1] (0xF9…0xFF) wraps to 1…7.
            TensorPrimitives.Add(codes, Int4Quantization.SymmetricZeroPoint, codes);
            zeroPoints.Fill(Int4Quantization.SymmetricZeroPoint);
        }
        else
        {
            Int4Quantization.Transpose<byte>(quantizer.ZeroPoints, blocks, n, zeroPoints);
        }
    }
}
