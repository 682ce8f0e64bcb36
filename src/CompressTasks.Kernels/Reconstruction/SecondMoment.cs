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
/// Inputs are float32, the sum double; H is either a double row-major [K, K] (both triangles filled) or a
/// <see cref="SymmetricMatrix"/> of float accumulators (one triangle). Samples go in blocks of <see cref="BlockRows"/>:
/// each entry of the block's contribution is a float sum over the block's samples (in registers, tiles of 4 × 16
/// entries, or one dot product near the diagonal) added to its accumulator, and quads of rows of H are shared out
/// over threads. Each entry is computed by one thread in a fixed sample order, so the result does not depend on the
/// thread count: same inputs, same bits. Memory is the accumulators plus one K × <see cref="BlockRows"/> float block,
/// whatever the number of samples.
/// <para>
/// Float accumulators are precise enough: an entry is a sum of B block terms (B = ⌈m / 64⌉ per call), each already a
/// float sum of at most 64 products (error up to 64 · 2⁻²⁴ of Σ|xᵢxⱼ| on the double path too), and adding them in
/// float adds at most B · 2⁻²⁴ of Σ|xᵢxⱼ| ≤ √(Hᵢᵢ Hⱼⱼ) more, about √B · 2⁻²⁴ in practice (at 100 000 samples: at
/// most 1e-4, typically 2e-6, of √(Hᵢᵢ Hⱼⱼ)), far below the 1 % damping GPTQ adds to H. The tests hold the float
/// path to the double one within that bound.
/// </para>
/// </remarks>
public static class SecondMoment
{
    /// <summary>Samples per block: the float dot products cover at most this many terms before reaching the accumulator.</summary>
    public const int BlockRows = 64;

    /// <summary>Adds <c>rows</c> ([m, K] row-major, one sample per row) to <paramref name="h"/> and <paramref name="sum"/>.</summary>
    public static void Accumulate(ReadOnlySpan<float> rows, int features, Memory<double> h, Span<double> sum) =>
        RunFull(rows, features, h, sum, transposed: false);

    /// <summary>
    /// Adds samples given feature-major: <c>columns</c> is [K, m], sample j being column j (Gemm's A with
    /// <c>transA = 1</c>).
    /// </summary>
    public static void AccumulateTransposed(ReadOnlySpan<float> columns, int features, Memory<double> h, Span<double> sum) =>
        RunFull(columns, features, h, sum, transposed: true);

    /// <summary>
    /// Adds <c>rows</c> ([m, K] row-major) to <paramref name="h"/> in float, touching only its kept triangle, and to
    /// <paramref name="sum"/> (double).
    /// </summary>
    public static void Accumulate(ReadOnlySpan<float> rows, int features, SymmetricMatrix h, Span<double> sum) =>
        RunSymmetric(rows, features, h, sum, transposed: false);

    /// <summary>Adds samples given feature-major ([K, m]) to <paramref name="h"/> in float and to <paramref name="sum"/>.</summary>
    public static void AccumulateTransposed(ReadOnlySpan<float> columns, int features, SymmetricMatrix h, Span<double> sum) =>
        RunSymmetric(columns, features, h, sum, transposed: true);

    private static unsafe void RunFull(ReadOnlySpan<float> data, int k, Memory<double> memory, Span<double> sum, bool transposed)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k));
        if (memory.Length != (long)k * k || sum.Length != k) throw new ArgumentException($"accumulators must be [{k}, {k}] and [{k}]");
        using (var pin = memory.Pin()) Run(data, k, new FullTarget((double*)pin.Pointer, k), sum, transposed);
        // The blocks went into the lower triangle (H was symmetric before): copy it over the upper one.
        var h = memory.Span;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < i; j++) h[j * k + i] = h[i * k + j];
    }

    private static unsafe void RunSymmetric(ReadOnlySpan<float> data, int k, SymmetricMatrix h, Span<double> sum, bool transposed)
    {
        ArgumentNullException.ThrowIfNull(h);
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k));
        if (h.Order != k || sum.Length != k) throw new ArgumentException($"accumulators must be of order {k} and [{k}]");
        Run(data, k, new ReversedTarget(h.Pointer, k), sum, transposed);
        GC.KeepAlive(h); // its finalizer frees the memory written through the pointer
    }

    // Where a block's sums go: row-major lower-triangle rows of stride k; the float path stores H reversed.
    private interface ITarget
    {
        /// <summary>Whether block row f holds feature k − 1 − f (R = J H J's lower triangle is H's kept one).</summary>
        bool Reversed { get; }

        /// <summary>lower[row, column + c] += sums[c], c &lt; 16 (the two vectors).</summary>
        void AddTile(int row, int column, Vector256<float> low, Vector256<float> high);

        /// <summary>lower[row, column] += value.</summary>
        void Add(int row, int column, float value);
    }

    private readonly unsafe struct FullTarget(double* h, int k) : ITarget
    {
        public bool Reversed => false;

        public void AddTile(int row, int column, Vector256<float> low, Vector256<float> high)
        {
            double* t = h + (nint)row * k + column;
            var (w0, w1) = Vector256.Widen(low);
            var (w2, w3) = Vector256.Widen(high);
            (Vector256.Load(t) + w0).Store(t);
            (Vector256.Load(t + 4) + w1).Store(t + 4);
            (Vector256.Load(t + 8) + w2).Store(t + 8);
            (Vector256.Load(t + 12) + w3).Store(t + 12);
        }

        public void Add(int row, int column, float value) => h[(nint)row * k + column] += value;
    }

    private readonly unsafe struct ReversedTarget(float* r, int k) : ITarget
    {
        public bool Reversed => true;

        public void AddTile(int row, int column, Vector256<float> low, Vector256<float> high)
        {
            float* t = r + (nint)row * k + column;
            (Vector256.Load(t) + low).Store(t);
            (Vector256.Load(t + 8) + high).Store(t + 8);
        }

        public void Add(int row, int column, float value) => r[(nint)row * k + column] += value;
    }

    private static void Run<T>(ReadOnlySpan<float> data, int k, T target, Span<double> sum, bool transposed) where T : struct, ITarget
    {
        if (data.Length % k != 0) throw new ArgumentException($"{data.Length} values are not whole samples of {k} features", nameof(data));
        int m = data.Length / k;
        var block = ScratchBuffers.Rent<float>(k * BlockRows);
        try
        {
            for (int start = 0; start < m; start += BlockRows)
            {
                int count = Math.Min(BlockRows, m - start);
                // Feature-major block: block[f * count + r] = sample (start + r), feature i (f = i, or k − 1 − i reversed).
                for (int i = 0; i < k; i++)
                {
                    var column = block.AsSpan((target.Reversed ? k - 1 - i : i) * count, count);
                    if (transposed) data.Slice(i * m + start, count).CopyTo(column);
                    else for (int r = 0; r < count; r++) column[r] = data[(start + r) * k + i];
                    double s = 0;
                    foreach (var v in column) s += v;
                    sum[i] += s;
                }
                AddBlock(block, count, k, target);
            }
        }
        finally
        {
            ScratchBuffers.Return(block);
        }
    }

    // lower[i, j] += Σ_r block[i, r] · block[j, r] for j ≤ i; quads of rows in parallel, each by one thread.
    // Below the diagonal, tiles of 4 rows × 16 columns keep 8 float vector accumulators in registers over the block's
    // samples (read sample-major from a transposed copy) and are added to the target rows once per block; the
    // corner of a quad that reaches the diagonal takes one dot product per entry. Nothing above the diagonal is touched.
    private static void AddBlock<T>(float[] block, int count, int k, T target) where T : struct, ITarget
    {
        var samples = ScratchBuffers.Rent<float>(k * count);
        try
        {
            for (int f = 0; f < k; f++)
                for (int r = 0; r < count; r++) samples[r * k + f] = block[f * count + r];
            int quads = (k + 3) / 4;
            if ((long)k * k * count < 1 << 18)
            {
                for (int q = 0; q < quads; q++) AddQuad(block, samples, count, k, target, 4 * q);
                return;
            }
            Parallel.For(0, quads, q => AddQuad(block, samples, count, k, target, 4 * q));
        }
        finally
        {
            ScratchBuffers.Return(samples);
        }
    }

    private const int TileWidth = 16;

    private static void AddQuad<T>(float[] block, float[] samples, int count, int k, T target, int i) where T : struct, ITarget
    {
        int rows = Math.Min(4, k - i);
        int full = rows == 4 && Vector256.IsHardwareAccelerated ? i / TileWidth * TileWidth : 0;
        for (int j = 0; j < full; j += TileWidth) Tile(block, samples, count, k, target, i, j);
        for (int r = i; r < i + rows; r++)
        {
            var xr = new ReadOnlySpan<float>(block, r * count, count);
            for (int j = full; j <= r; j++)
                target.Add(r, j, TensorPrimitives.Dot(xr, new ReadOnlySpan<float>(block, j * count, count)));
        }
    }

    private static void Tile<T>(float[] block, float[] samples, int count, int k, T target, int i, int j) where T : struct, ITarget
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
        target.AddTile(i, j, s00, s01);
        target.AddTile(i + 1, j, s10, s11);
        target.AddTile(i + 2, j, s20, s21);
        target.AddTile(i + 3, j, s30, s31);
    }
}
