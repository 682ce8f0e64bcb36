using System.Globalization;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// The teacher-guided branch of <see cref="PruneMagnitude"/>: <c>method: sparsegpt</c> (the mask chosen by OBS
/// saliency and the surviving weights updated to compensate, <see cref="SparseGpt"/>) and <c>bias-correction</c>
/// (the expected output shift moved into the layer's bias, <see cref="BiasCorrection"/>), for MatMul/Gemm weights
/// read only as input 1 in the main graph.
/// </summary>
/// <remarks>
/// <code>
///   magnitude:  W' = W ⊙ mask(|W| largest)                  as the plain pass
///   sparsegpt:  the same number of zeros per layer (or N:M), mask by w² / [H⁻¹]ₖₖ, the rest updated through H
///   bias:       b' = b + (W − W')ᵀ μ                         μ: mean input on the calibration data
/// </code>
/// SparseGPT takes the layer's sparsity from what magnitude pruning would zero under the pass's own rules
/// (sparsity, global scope, thresholds), so <c>scope: global</c> still decides how much each layer loses; it then
/// picks ⌊s·K⌋ zeros per output column, or N:M along K. A weight it cannot handle (Conv: no im2col statistics
/// yet; a reader in a subgraph) keeps the magnitude result, with a note. The notes give each layer's relative output
/// error tr(ΔᵀHΔ)/tr(WᵀHW) on the calibration data for both methods.
/// </remarks>
internal sealed class SparseReconstruction
{
    private readonly TeacherStatistics _teacher;
    private readonly SparseGptOptions? _sparseGpt;
    private readonly bool _biasCorrection;

    private SparseReconstruction(TeacherStatistics teacher, SparseGptOptions? sparseGpt, bool biasCorrection)
    {
        _teacher = teacher;
        _sparseGpt = sparseGpt;
        _biasCorrection = biasCorrection;
    }

    /// <summary>The parameters this branch adds to prune-magnitude.</summary>
    public static ParameterSpec[] Parameters { get; } =
    [
        ParameterSpec.Enum("method", "magnitude", ["magnitude", "sparsegpt"], "magnitude: zero the smallest |w|; sparsegpt: choose the mask by OBS saliency and update the surviving weights through the teacher's input statistics (MatMul/Gemm; needs calibration data)."),
        ParameterSpec.Int("block-size", 128, "sparsegpt: rows whose unstructured mask is chosen together and whose updates are applied at once.", minimum: 1),
        ParameterSpec.Float("damp", 0.01, "sparsegpt: damping added to H's diagonal, as a fraction of its mean.", minimum: 0, maximum: 1),
        ParameterSpec.Bool("bias-correction", false, "Move the expected output shift E[(W − W')ᵀx] into the layer's bias (needs calibration data)."),
    ];

    /// <summary>The branch the arguments ask for, or null for plain magnitude pruning; <paramref name="missing"/> is the skip reason without calibration data.</summary>
    public static SparseReconstruction? Create(PassArguments arguments, PassContext context, out string? missing)
    {
        missing = null;
        bool sparseGpt = arguments.GetString("method") == "sparsegpt";
        bool bias = arguments.GetBool("bias-correction");
        if (!sparseGpt && !bias) return null;
        if (context.Teacher is not { } teacher)
        {
            missing = PassContext.MissingCalibration(sparseGpt ? "method: sparsegpt" : "bias-correction");
            return null;
        }
        var options = sparseGpt ? new SparseGptOptions(BlockSize: arguments.GetInt("block-size"), Damp: arguments.GetDouble("damp")) : null;
        return new SparseReconstruction(teacher, options, bias);
    }

    /// <summary>Collects, in one run of the teacher, the statistics of every reader of <paramref name="weights"/>.</summary>
    public void Collect(IEnumerable<Constant> weights) =>
        TeacherLayers.Prefetch(_teacher, weights.Select(w => TeacherLayers.Find(w, out _)).OfType<LinearWeight>());

    /// <summary>
    /// <paramref name="pruned"/> holds <paramref name="weight"/>'s values (stored layout) as magnitude pruning left
    /// them; replaces them with SparseGPT's result (same zero count, or <paramref name="keepN"/>:<paramref name="groupM"/>
    /// along K when <paramref name="keepN"/> &gt; 0) and corrects the bias, as asked. Leaves them (with a note) when the
    /// weight cannot be reconstructed.
    /// </summary>
    public void Apply(Constant weight, float[] pruned, int keepN, int groupM, PassResult result)
    {
        string name = weight.Name;
        var layer = TeacherLayers.Find(weight, out string? reason);
        var statistics = layer is null ? null : TeacherLayers.Statistics(_teacher, layer, out reason);
        if (layer is null || statistics is not var (h, mean))
        {
            result.Note($"'{name}': {reason}; pruned by magnitude without reconstruction");
            return;
        }
        int k = layer.Rows, n = layer.Columns;
        var original = layer.ReadRowsByInput();
        var w = layer.Transposed ? TeacherLayers.Transpose(pruned, n, k) : (float[])pruned.Clone();
        string summary = string.Create(CultureInfo.InvariantCulture, $"magnitude {LayerError.Relative(h, original, w, k, n):E3}");
        if (_sparseGpt is { } options)
        {
            original.CopyTo(w, 0);
            double sparsity = (double)WeightPruning.CountZeros(pruned) / pruned.Length;
            var info = SparseGpt.Prune(w, k, n, h, keepN > 0 ? options with { PruneN = groupM - keepN, GroupM = groupM } : options with { Sparsity = sparsity });
            summary = string.Create(CultureInfo.InvariantCulture,
                $"sparsegpt {LayerError.Relative(h, original, w, k, n):E3}, {summary}{(info.DampUsed > options.Damp ? $", damp raised to {info.DampUsed}" : "")}");
        }
        string bias = _biasCorrection ? TeacherLayers.CorrectBias(layer, original, w, mean) : "";
        result.Note($"'{name}': relative layer output error on calibration data: {summary}{bias}");
        layer.ToStoredLayout(w).CopyTo(pruned, 0);
    }
}
