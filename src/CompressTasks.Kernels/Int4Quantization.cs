using System.Numerics.Tensors;

namespace CompressTasks.Kernels;

/// <summary>
/// Block-wise 4-bit quantization of float32 weights along the reduction axis K, and the nibble packings the two
/// ONNX forms need: ONNX Runtime's <c>MatMulNBits</c> (com.microsoft) and <c>DequantizeLinear</c> (opset 21) over
/// <c>int4</c>/<c>uint4</c> tensors.
/// </summary>
/// <remarks>
/// Weights are viewed as [rows, k] with k contiguous (one row per output column: a MatMul weight [K, N]
/// transposed, or a Gemm weight with transB = 1 as it is). Each row is cut into ⌈k / B⌉ blocks of B values (the
/// last one shorter when B does not divide k); each block has one scale s and one 4-bit zero point z. Codes are
/// unsigned, c ∈ [0, 15]:
/// <code>
///   symmetric:  s = max|w| / 7                          z = 8      (c − 8 ∈ [−7, 7]; −8 left out)
///   asymmetric: s = (max(w, 0) − min(w, 0)) / 15        z = clamp(round(−min(w, 0) / s), 0, 15)
///   c = clamp(round(w / s) + z, 0, 15)                  round half to even
///   w' = (c − z) · s                                    |w' − w| ≤ s/2 for every w of the block
/// </code>
/// A block that is all zeros gets s = 1. The symmetric zero point 8 is MatMulNBits' default; for a signed
/// <c>int4</c> tensor the code is stored as c − 8 (two's complement), which is c XOR 8 in 4 bits.
/// Parameters are laid out [rows, blocks] (MatMulNBits order). Inputs must be finite.
/// </remarks>
public static class Int4Quantization
{
    /// <summary>The largest magnitude of a symmetric code (c − 8); −8 is left out so the range is the same on both sides.</summary>
    public const int SymmetricMax = 7;

    /// <summary>The largest 4-bit code.</summary>
    public const int CodeMax = 15;

    /// <summary>The zero point of symmetric blocks (and MatMulNBits' default when it has no zero points).</summary>
    public const byte SymmetricZeroPoint = 8;

    /// <summary>⌈k / blockSize⌉.</summary>
    public static int BlockCount(int k, int blockSize) => (k + blockSize - 1) / blockSize;

    /// <summary>
    /// Scales and zero points of every block: <paramref name="scales"/> and <paramref name="zeroPoints"/> hold
    /// rows · ⌈k / B⌉ values each, row after row.
    /// </summary>
    public static void ComputeParameters(ReadOnlySpan<float> weights, int rows, int k, int blockSize, bool symmetric, Span<float> scales, Span<byte> zeroPoints)
    {
        int blocks = Validate(weights.Length, rows, k, blockSize, scales.Length, zeroPoints.Length);
        for (int r = 0; r < rows; r++)
        {
            var row = weights.Slice(r * k, k);
            for (int b = 0; b < blocks; b++)
            {
                var block = Block(row, b, blockSize);
                int at = r * blocks + b;
                if (symmetric)
                {
                    float magnitude = Math.Abs(TensorPrimitives.MaxMagnitude(block));
                    scales[at] = magnitude > 0 ? magnitude / SymmetricMax : 1f;
                    zeroPoints[at] = SymmetricZeroPoint;
                    continue;
                }
                // The range always contains 0, so zero (and K padding) is represented exactly.
                float low = Math.Min(0f, TensorPrimitives.Min(block));
                float high = Math.Max(0f, TensorPrimitives.Max(block));
                float scale = high > low ? (high - low) / CodeMax : 1f;
                scales[at] = scale;
                zeroPoints[at] = (byte)Math.Clamp(MathF.Round(-low / scale, MidpointRounding.ToEven), 0, CodeMax);
            }
        }
    }

    /// <summary><c>codes = clamp(round(w / s) + z, 0, 15)</c> per block, one code per byte, [rows, k].</summary>
    public static void Quantize(ReadOnlySpan<float> weights, int rows, int k, int blockSize, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints, Span<byte> codes)
    {
        int blocks = Validate(weights.Length, rows, k, blockSize, scales.Length, zeroPoints.Length);
        if (codes.Length != weights.Length) throw new ArgumentException($"{codes.Length} codes for {weights.Length} weights", nameof(codes));
        Span<float> scratch = blockSize <= 1024 ? stackalloc float[blockSize] : new float[blockSize];
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                var block = Block(weights.Slice(r * k, k), b, blockSize);
                var values = scratch[..block.Length];
                int at = r * blocks + b;
                TensorPrimitives.Divide(block, scales[at], values);
                TensorPrimitives.Round(values, values);
                TensorPrimitives.Add(values, (float)zeroPoints[at], values);
                TensorPrimitives.Clamp(values, 0f, CodeMax, values);
                TensorPrimitives.ConvertTruncating<float, byte>(values, codes.Slice(r * k + b * blockSize, block.Length));
            }
        }
    }

    /// <summary><c>destination = (c − z) · s</c> per block: what both MatMulNBits and DequantizeLinear compute.</summary>
    public static void Dequantize(ReadOnlySpan<byte> codes, int rows, int k, int blockSize, ReadOnlySpan<float> scales, ReadOnlySpan<byte> zeroPoints, Span<float> destination)
    {
        int blocks = Validate(codes.Length, rows, k, blockSize, scales.Length, zeroPoints.Length);
        if (destination.Length != codes.Length) throw new ArgumentException($"{destination.Length} values for {codes.Length} codes", nameof(destination));
        TensorPrimitives.ConvertTruncating(codes, destination);
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                var block = Block(destination.Slice(r * k, k), b, blockSize);
                int at = r * blocks + b;
                TensorPrimitives.Subtract(block, (float)zeroPoints[at], block);
                TensorPrimitives.Multiply(block, scales[at], block);
            }
        }
    }

    /// <summary>
    /// MatMulNBits' B input: [rows, blocks, B/2] bytes, each block's codes two per byte along k, the even one in the
    /// low nibble. Positions past k in the last block hold the block's zero point, so they dequantize to 0.
    /// </summary>
    public static void PackBlocks(ReadOnlySpan<byte> codes, int rows, int k, int blockSize, ReadOnlySpan<byte> zeroPoints, Span<byte> packed)
    {
        if (blockSize < 2 || blockSize % 2 != 0) throw new ArgumentException($"block size {blockSize} is not even", nameof(blockSize));
        int blocks = Validate(codes.Length, rows, k, blockSize, zeroPoints.Length, zeroPoints.Length);
        int blob = blockSize / 2;
        if (packed.Length != rows * blocks * blob) throw new ArgumentException($"{packed.Length} bytes for [{rows}, {blocks}, {blob}]", nameof(packed));
        Span<byte> padded = blockSize <= 1024 ? stackalloc byte[blockSize] : new byte[blockSize];
        for (int r = 0; r < rows; r++)
        {
            for (int b = 0; b < blocks; b++)
            {
                var block = Block(codes.Slice(r * k, k), b, blockSize);
                var target = packed.Slice((r * blocks + b) * blob, blob);
                if (block.Length == blockSize)
                {
                    PackNibbles(block, target);
                    continue;
                }
                padded.Fill(zeroPoints[r * blocks + b]);
                block.CopyTo(padded);
                PackNibbles(padded, target);
            }
        }
    }

    /// <summary>
    /// Two 4-bit values per byte in order, the first in the low nibble; an odd count leaves the last high nibble
    /// 0. This is ONNX's <c>int4</c>/<c>uint4</c> raw_data layout, and MatMulNBits' zero points row by row.
    /// </summary>
    public static void PackNibbles(ReadOnlySpan<byte> values, Span<byte> packed)
    {
        if (packed.Length != (values.Length + 1) / 2) throw new ArgumentException($"{packed.Length} bytes for {values.Length} nibbles", nameof(packed));
        int pairs = values.Length / 2;
        for (int i = 0; i < pairs; i++) packed[i] = (byte)((values[2 * i] & 0xF) | (values[2 * i + 1] << 4));
        if (values.Length % 2 != 0) packed[pairs] = (byte)(values[^1] & 0xF);
    }

    /// <summary>The inverse of <see cref="PackNibbles"/>: <paramref name="values"/>.Length nibbles, low first.</summary>
    public static void UnpackNibbles(ReadOnlySpan<byte> packed, Span<byte> values)
    {
        if (packed.Length != (values.Length + 1) / 2) throw new ArgumentException($"{packed.Length} bytes for {values.Length} nibbles", nameof(packed));
        for (int i = 0; i < values.Length; i++) values[i] = (byte)((packed[i / 2] >> (4 * (i % 2))) & 0xF);
    }

    /// <summary>
    /// Codes with zero point 8 (offset binary) as two's complement 4-bit values, in place: c XOR 8 is c − 8 in four
    /// bits, what a signed <c>int4</c> tensor stores.
    /// </summary>
    public static void OffsetToSigned(Span<byte> codes) => TensorPrimitives.Xor(codes, SymmetricZeroPoint, codes);

    /// <summary><c>destination[c, r] = source[r, c]</c> for a [rows, columns] source, in tiles that stay in cache.</summary>
    public static void Transpose<T>(ReadOnlySpan<T> source, int rows, int columns, Span<T> destination)
    {
        if ((long)rows * columns != source.Length || destination.Length != source.Length)
            throw new ArgumentException($"{source.Length} and {destination.Length} values do not both fill [{rows}, {columns}]");
        const int Tile = 32;
        for (int r0 = 0; r0 < rows; r0 += Tile)
        {
            int r1 = Math.Min(rows, r0 + Tile);
            for (int c0 = 0; c0 < columns; c0 += Tile)
            {
                int c1 = Math.Min(columns, c0 + Tile);
                for (int r = r0; r < r1; r++)
                    for (int c = c0; c < c1; c++)
                        destination[c * rows + r] = source[r * columns + c];
            }
        }
    }

    private static ReadOnlySpan<T> Block<T>(ReadOnlySpan<T> row, int b, int blockSize)
    {
        int start = b * blockSize;
        return row.Slice(start, Math.Min(blockSize, row.Length - start));
    }

    private static Span<T> Block<T>(Span<T> row, int b, int blockSize)
    {
        int start = b * blockSize;
        return row.Slice(start, Math.Min(blockSize, row.Length - start));
    }

    private static int Validate(int values, int rows, int k, int blockSize, int scales, int zeroPoints)
    {
        if (rows < 0 || k < 1 || blockSize < 1) throw new ArgumentException($"bad view [{rows}, {k}] with block size {blockSize}");
        if ((long)rows * k != values) throw new ArgumentException($"{values} values do not fill [{rows}, {k}]");
        int blocks = BlockCount(k, blockSize);
        if (scales != rows * blocks || zeroPoints != rows * blocks)
            throw new ArgumentException($"{scales} scales and {zeroPoints} zero points for {rows} × {blocks} blocks");
        return blocks;
    }
}
