using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Runtime.Calibration;

/// <summary>
/// Which input statistics a layer needs: the value feeding it, and how its samples lie. A MatMul input [.., K]
/// gives one sample per row of its last axis; Gemm's A with <c>transA = 1</c> is [K, M], one sample per column.
/// </summary>
/// <param name="Value">The name of the layer's input value (activation), as the teacher model names it.</param>
/// <param name="Transposed">True when features run along the first axis of a 2-D value (Gemm transA = 1).</param>
public sealed record StatisticsRequest(string Value, bool Transposed = false);

/// <summary>
/// The teacher's input statistics of one layer over the calibration data: H = Σ x xᵀ [K, K] and Σ x [K], both in
/// double, with the sample count. Memory is K² + K doubles however many samples went in.
/// </summary>
public sealed class LayerStatistics
{
    /// <summary>Empty statistics over <paramref name="features"/> inputs.</summary>
    public LayerStatistics(int features)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        Features = features;
        SecondMoment = new double[(long)features * features];
        Sum = new double[features];
    }

    /// <summary>K, the number of input features.</summary>
    public int Features { get; }

    /// <summary>Number of samples (rows x) accumulated.</summary>
    public long Samples { get; private set; }

    /// <summary>H = Σ x xᵀ, row-major [K, K], symmetric.</summary>
    public double[] SecondMoment { get; }

    /// <summary>Σ x [K].</summary>
    public double[] Sum { get; }

    /// <summary>Bytes held by the accumulators.</summary>
    public long Bytes => (SecondMoment.LongLength + Sum.Length) * sizeof(double);

    /// <summary>The mean input Σ x / samples (zeros before any sample).</summary>
    public double[] Mean()
    {
        var mean = new double[Features];
        if (Samples > 0) for (int i = 0; i < Features; i++) mean[i] = Sum[i] / Samples;
        return mean;
    }

    /// <summary>Adds samples [m, K], one per row.</summary>
    public void Add(ReadOnlySpan<float> rows)
    {
        Kernels.Reconstruction.SecondMoment.Accumulate(rows, Features, SecondMoment, Sum);
        Samples += rows.Length / Features;
    }

    /// <summary>Adds samples [K, m], one per column.</summary>
    public void AddTransposed(ReadOnlySpan<float> columns)
    {
        Kernels.Reconstruction.SecondMoment.AccumulateTransposed(columns, Features, SecondMoment, Sum);
        Samples += columns.Length / Features;
    }
}
