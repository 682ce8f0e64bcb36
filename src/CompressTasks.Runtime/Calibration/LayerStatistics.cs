using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Runtime.Calibration;

/// <summary>
/// Which input statistics a layer needs: the value feeding it, and how its samples lie. A MatMul input [.., K]
/// gives one sample per row of its last axis; Gemm's A with <c>transA = 1</c> is [K, M], one sample per column.
/// </summary>
/// <param name="Value">The name of the layer's input value (activation), as the teacher model names it.</param>
/// <param name="Transposed">True when features run along the first axis of a 2-D value (Gemm transA = 1).</param>
/// <param name="Conv">
/// For a Conv's input [N, C, H, W] (or [N, C, L]): its geometry; samples are then the im2col patches, one H per group
/// (<see cref="ConvPatches"/>).
/// </param>
public sealed record StatisticsRequest(string Value, bool Transposed = false, ConvGeometry? Conv = null);

/// <summary>
/// The teacher's input statistics of one layer over the calibration data: H = Σ x xᵀ [K, K] (float32, one triangle
/// kept: <see cref="SymmetricMatrix"/>) and Σ x [K] in double, with the sample count. Memory is K(K + 1)/2 floats
/// and K doubles however many samples went in. A grouped Conv keeps one of each per group, every group seeing the
/// same number of patches. H lives in native memory: <see cref="Dispose"/> frees it.
/// </summary>
public sealed class LayerStatistics : IDisposable
{
    private readonly SymmetricMatrix[] _secondMoments;

    /// <summary>Empty statistics over <paramref name="features"/> inputs (per group, with <paramref name="groups"/> groups).</summary>
    public LayerStatistics(int features, int groups = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        Features = features;
        Groups = groups;
        _secondMoments = new SymmetricMatrix[groups];
        for (int g = 0; g < groups; g++) _secondMoments[g] = new SymmetricMatrix(features);
        Sum = new double[(long)groups * features];
    }

    /// <summary>K, the number of input features (of one group).</summary>
    public int Features { get; }

    /// <summary>Conv groups, each with its own H; 1 otherwise.</summary>
    public int Groups { get; }

    /// <summary>Number of samples (rows x, or patches of one group) accumulated.</summary>
    public long Samples { get; private set; }

    /// <summary>H = Σ x xᵀ of group <paramref name="group"/>.</summary>
    public SymmetricMatrix SecondMoment(int group = 0) => _secondMoments[group];

    /// <summary>Σ x [K] per group ([groups, K]).</summary>
    public double[] Sum { get; }

    /// <summary>Bytes held by the accumulators.</summary>
    public long Bytes => Groups * _secondMoments[0].Bytes + Sum.Length * sizeof(double);

    /// <summary>The mean input Σ x / samples (zeros before any sample).</summary>
    public double[] Mean()
    {
        var mean = new double[Sum.Length];
        if (Samples > 0) for (int i = 0; i < mean.Length; i++) mean[i] = Sum[i] / Samples;
        return mean;
    }

    /// <summary>
    /// Adds the im2col patches of a Conv input [N, C, H, W] (or [N, C, L]) with <paramref name="geometry"/>, whose
    /// group count and patch length must be this one's.
    /// </summary>
    public void AddPatches(ReadOnlySpan<float> input, ReadOnlySpan<long> shape, ConvGeometry geometry)
    {
        if (shape.Length is not (3 or 4)) throw new ArgumentException("a Conv input is [N, C, H, W] or [N, C, L]", nameof(shape));
        int height = shape.Length == 4 ? (int)shape[2] : 1, width = (int)shape[^1];
        if (geometry.Group != Groups || geometry.Features((int)shape[1]) != Features)
            throw new ArgumentException($"patches of {geometry.Features((int)shape[1])} features in {geometry.Group} groups do not fit {Features} in {Groups}");
        Samples += ConvPatches.Accumulate(input, (int)shape[0], (int)shape[1], height, width, geometry, _secondMoments, Sum);
    }

    /// <summary>Adds samples [m, K], one per row.</summary>
    public void Add(ReadOnlySpan<float> rows)
    {
        Kernels.Reconstruction.SecondMoment.Accumulate(rows, Features, _secondMoments[0], Sum);
        Samples += rows.Length / Features;
    }

    /// <summary>Adds samples [K, m], one per column.</summary>
    public void AddTransposed(ReadOnlySpan<float> columns)
    {
        Kernels.Reconstruction.SecondMoment.AccumulateTransposed(columns, Features, _secondMoments[0], Sum);
        Samples += columns.Length / Features;
    }

    /// <summary>Frees the H matrices (a consumer that factored one in place has already given it up).</summary>
    public void Dispose()
    {
        foreach (var h in _secondMoments) h.Dispose();
    }
}
