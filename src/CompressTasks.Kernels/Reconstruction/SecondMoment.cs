using System.Buffers;
using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Accumulates the second moment of a layer's inputs, <c>H += Σ x xᵀ</c>, and their sum, <c>s += Σ x</c>, over
/// sample rows x ∈ ℝᴷ: the statistics GPTQ, SparseGPT, bias correction and least-squares refits work from.
/// </summary>
/// <remarks>
/// Inputs are float32, accumulators double (row-major [K, K], both triangles filled). Samples go in blocks of
/// <see cref="BlockRows"/>: a block is transposed so each feature is a contiguous run, each entry of the block's
/// contribution is one float dot product (<see cref="TensorPrimitives.Dot(ReadOnlySpan{float}, ReadOnlySpan{float})"/>)
/// added to its double accumulator, and the rows of H are shared out over threads. Each entry is computed by one
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

    // lower[i, j] += Σ_r block[i, r] · block[j, r] for j ≤ i; rows of H in parallel, each by one thread.
    private static void AddBlock(float[] block, int count, int k, Memory<double> lower)
    {
        if ((long)k * k * count < 1 << 18)
        {
            for (int i = 0; i < k; i++) AddRow(block, count, k, lower.Span, i);
            return;
        }
        Parallel.For(0, k, i => AddRow(block, count, k, lower.Span, i));
    }

    private static void AddRow(float[] block, int count, int k, Span<double> lower, int i)
    {
        var xi = new ReadOnlySpan<float>(block, i * count, count);
        var row = lower.Slice(i * k, i + 1);
        for (int j = 0; j <= i; j++)
            row[j] += TensorPrimitives.Dot(xi, new ReadOnlySpan<float>(block, j * count, count));
    }
}
