using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Accumulates the second moment of a layer's inputs, <c>H += Σ x xᵀ</c>, and their sum, <c>s += Σ x</c>, over
/// sample rows x ∈ ℝᴷ: the statistics GPTQ, SparseGPT, bias correction and least-squares refits work from.
/// </summary>
/// <remarks>
/// Inputs are float32, accumulators double (row-major [K, K], both triangles filled). Samples go in blocks of
/// <see cref="BlockRows"/>: each entry of the block's contribution is a float sum over the block's samples (in
/// registers, tiles of 4 × 16 entries, or one dot product near the diagonal) added to its double accumulator, and
/// quads of rows of H are shared out over threads. Each entry is computed by one
/// thread in a fixed sample order, so the result does not depend on the thread count: same inputs, same bits.
/// Memory is the accumulators plus one K × <see cref="BlockRows"/> float block, whatever the number of samples
/// (each block goes straight into H's lower triangle, which is copied over the upper one at the end of a call).
/// </remarks>
public static class SecondMoment
{
    /// <summary>Samples per block: the float dot products cover at most this many terms before reaching double.</summary>
    public const int BlockRows = 64;

    /// <summary>Adds <c>rows</c> ([m, K] row-major, one sample per row) to <paramref name="h"/> and <paramref name="sum"/>.</summary>
    public static void Accumulate(ReadOnlySpan<float> rows, int features, Memory<double> h, Span<double> sum) =>
        Run(rows, features, h, sum, transposed: false);

    /// <summary>
    /// Adds samples given feature-major: <c>columns</c> is [K, m], sample j being column j (Gemm's A with
    /// <c>transA = 1</c>).
    /// </summary>
    public static void AccumulateTransposed(ReadOnlySpan<float> columns, int features, Memory<double> h, Span<double> sum) =>
        Run(columns, features, h, sum, transposed: true);

    private static void Run(ReadOnlySpan<float> data, int k, Memory<double> memory, Span<double> sum, bool transposed)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k));
        if (data.Length % k != 0) throw new ArgumentException($"{data.Length} values are not whole samples of {k} features", nameof(data));
        var h = memory.Span;
        if (h.Length != k * k || sum.Length != k) throw new ArgumentException($"accumulators must be [{k}, {k}] and [{k}]");
        int m = data.Length / k;
        var block = ArrayPool<float>.Shared.Rent(k * BlockRows);
        try
        {
            for (int start = 0; start < m; start += BlockRows)
            {
                int count = Math.Min(BlockRows, m - start);
                // Feature-major block: block[i * count + r] = sample (start + r), feature i.
                for (int i = 0; i < k; i++)
                {
                    var column = block.AsSpan(i * count, count);
                    if (transposed) data.Slice(i * m + start, count).CopyTo(column);
                    else for (int r = 0; r < count; r++) column[r] = data[(start + r) * k + i];
                    double s = 0;
                    foreach (var v in column) s += v;
                    sum[i] += s;
                }
                AddBlock(block, count, k, memory);
            }
            // The blocks went into the lower triangle (H was symmetric before): copy it over the upper one.
            for (int i = 0; i < k; i++)
                for (int j = 0; j < i; j++) h[j * k + i] = h[i * k + j];
        }
        finally
        {
            ArrayPool<float>.Shared.Return(block);
        }
    }

    // lower[i, j] += Σ_r block[i, r] · block[j, r] for j ≤ i; quads of rows of H in parallel, each by one thread.
    // Below the diagonal, tiles of 4 rows × 16 columns keep 8 float vector accumulators in registers over the block's
    // samples (read sample-major from a transposed copy) and are widened into the double rows once per block; the
    // corner of a quad that reaches the diagonal takes one dot product per entry.
    private static unsafe void AddBlock(float[] block, int count, int k, Memory<double> lower)
    {
        var samples = ArrayPool<float>.Shared.Rent(k * count);
        try
        {
            for (int f = 0; f < k; f++)
                for (int r = 0; r < count; r++) samples[r * k + f] = block[f * count + r];
            int quads = (k + 3) / 4;
            if ((long)k * k * count < 1 << 18)
            {
                for (int q = 0; q < quads; q++) AddQuad(block, samples, count, k, lower.Span, 4 * q);
                return;
            }
            Parallel.For(0, quads, q => AddQuad(block, samples, count, k, lower.Span, 4 * q));
        }
        finally
        {
            ArrayPool<float>.Shared.Return(samples);
        }
    }

    private const int TileWidth = 16;

    private static void AddQuad(float[] block, float[] samples, int count, int k, Span<double> lower, int i)
    {
        int rows = Math.Min(4, k - i);
        int full = rows == 4 && Vector256.IsHardwareAccelerated ? i / TileWidth * TileWidth : 0;
        for (int j = 0; j < full; j += TileWidth) Tile(block, samples, count, k, lower, i, j);
        for (int r = i; r < i + rows; r++)
        {
            var xr = new ReadOnlySpan<float>(block, r * count, count);
            var row = lower.Slice(r * k, r + 1);
            for (int j = full; j <= r; j++)
                row[j] += TensorPrimitives.Dot(xr, new ReadOnlySpan<float>(block, j * count, count));
        }
    }

    private static void Tile(float[] block, float[] samples, int count, int k, Span<double> lower, int i, int j)
    {
        Vector256<float> s00 = default, s01 = default, s10 = default, s11 = default;
        Vector256<float> s20 = default, s21 = default, s30 = default, s31 = default;
        ref float a = ref MemoryMarshal.GetArrayDataReference(block);
        ref float b = ref MemoryMarshal.GetArrayDataReference(samples);
        nuint a0 = (nuint)(i * count), a1 = a0 + (nuint)count, a2 = a1 + (nuint)count, a3 = a2 + (nuint)count;
        nuint bo = (nuint)j;
        for (int r = 0; r < count; r++, bo += (nuint)k)
        {
            var b0 = Vector256.LoadUnsafe(ref b, bo);
            var b1 = Vector256.LoadUnsafe(ref b, bo + 8);
            var v = Vector256.Create(Unsafe.Add(ref a, a0 + (nuint)r));
            s00 = Vector256.FusedMultiplyAdd(v, b0, s00);
            s01 = Vector256.FusedMultiplyAdd(v, b1, s01);
            v = Vector256.Create(Unsafe.Add(ref a, a1 + (nuint)r));
            s10 = Vector256.FusedMultiplyAdd(v, b0, s10);
            s11 = Vector256.FusedMultiplyAdd(v, b1, s11);
            v = Vector256.Create(Unsafe.Add(ref a, a2 + (nuint)r));
            s20 = Vector256.FusedMultiplyAdd(v, b0, s20);
            s21 = Vector256.FusedMultiplyAdd(v, b1, s21);
            v = Vector256.Create(Unsafe.Add(ref a, a3 + (nuint)r));
            s30 = Vector256.FusedMultiplyAdd(v, b0, s30);
            s31 = Vector256.FusedMultiplyAdd(v, b1, s31);
        }
        Add(lower.Slice(i * k + j, TileWidth), s00, s01);
        Add(lower.Slice((i + 1) * k + j, TileWidth), s10, s11);
        Add(lower.Slice((i + 2) * k + j, TileWidth), s20, s21);
        Add(lower.Slice((i + 3) * k + j, TileWidth), s30, s31);
    }

    private static void Add(Span<double> target, Vector256<float> low, Vector256<float> high)
    {
        ref double t = ref MemoryMarshal.GetReference(target);
        var (w0, w1) = Vector256.Widen(low);
        var (w2, w3) = Vector256.Widen(high);
        (Vector256.LoadUnsafe(ref t) + w0).StoreUnsafe(ref t);
        (Vector256.LoadUnsafe(ref t, 4) + w1).StoreUnsafe(ref t, 4);
        (Vector256.LoadUnsafe(ref t, 8) + w2).StoreUnsafe(ref t, 8);
        (Vector256.LoadUnsafe(ref t, 12) + w3).StoreUnsafe(ref t, 12);
    }
}
