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
/// (the expected output shift moved into the layer's bias, <see cref="BiasCorrection"/>), for MatMul/Gemm/Conv
/// weights read only as input 1 in the main graph (a grouped Conv group by group, each against its own im2col
/// statistics).
/// </summary>
/// <remarks>
/// <code>
///   magnitude:  W' = W ⊙ mask(|W| largest)                  as the plain pass
///   sparsegpt:  the same number of zeros per layer (or N:M), mask by w² / [H⁻¹]ₖₖ, the rest updated through H
///   bias:       b' = b + (W − W')ᵀ μ                         μ: mean input on the calibration data
/// </code>
/// SparseGPT takes the layer's sparsity from what magnitude pruning would zero under the pass's own rules
/// (sparsity, global scope, thresholds), so <c>scope: global</c> still decides how much each layer loses; it then
/// picks ⌊s·K⌋ zeros per output column, or N:M along the input channels (a Conv's rows reordered so that they
/// run consecutively). A weight it cannot handle (a 3-D Conv; a reader in a subgraph) keeps the magnitude result,
/// with a note. The notes give each layer's relative output
/// error tr(ΔᵀHΔ)/tr(WᵀHW) on the calibration data for both methods.
/// </remarks>
internal sealed class SparseReconstruction
{
    private readonly TeacherStatistics _teacher;
    private TeacherBatches? _batches;
    private readonly SparseGptOptions? _sparseGpt;
    private readonly bool _biasCorrection;

    private readonly bool _sequential;

    private SparseReconstruction(TeacherStatistics teacher, SparseGptOptions? sparseGpt, bool biasCorrection, bool sequential)
    {
        _teacher = teacher;
        _sequential = sequential;
        _sparseGpt = sparseGpt;
        _biasCorrection = biasCorrection;
    }

    /// <summary>The parameters this branch adds to prune-magnitude.</summary>
    public static ParameterSpec[] Parameters { get; } =
    [
        ParameterSpec.Enum("method", "magnitude", ["magnitude", "sparsegpt"], "magnitude: zero the smallest |w|; sparsegpt: choose the mask by OBS saliency and update the surviving weights through the teacher's input statistics (needs calibration data)."),
        ParameterSpec.Int("block-size", 128, "sparsegpt: rows whose unstructured mask is chosen together and whose updates are applied at once.", minimum: 1),
        ParameterSpec.Float("damp", 0.01, "sparsegpt: damping added to H's diagonal, as a fraction of its mean.", minimum: 0, maximum: 1),
        ParameterSpec.Bool("bias-correction", false, "Move the expected output shift E[(W − W')ᵀx] into the layer's bias (needs calibration data)."),
        ParameterSpec.Bool("sequential", false, "sparsegpt/bias-correction: take each layer's statistics from the model with the layers before it already pruned (one calibration run per layer)."),
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
        return new SparseReconstruction(teacher, options, bias, arguments.GetBool("sequential"));
    }

    /// <summary>
    /// Plans the statistics of every reader of <paramref name="weights"/>, to be visited in this order (collected in
    /// memory-bounded batches, <see cref="TeacherBatches"/>).
    /// </summary>
    public void Collect(IEnumerable<Constant> weights) =>
        _batches = new TeacherBatches(_teacher, weights.Select(w => TeacherLayers.Find(w, out _)).OfType<LinearWeight>().ToList(), _sequential);

    /// <summary>
    /// <paramref name="pruned"/> holds <paramref name="weight"/>'s values (stored layout) as magnitude pruning left
    /// them; replaces them with SparseGPT's result (same zero count, or <paramref name="keepN"/>:<paramref name="groupM"/>
    /// along K when <paramref name="keepN"/> &gt; 0) and corrects the bias, as asked. Leaves them (with a note) when the
    /// weight cannot be reconstructed.
    /// </summary>
    public void Apply(Constant weight, float[] pruned, int keepN, int groupM, PassResult result)
    {
        string name = weight.Name;
        _batches ??= new TeacherBatches(_teacher, [], _sequential);
        var layer = TeacherLayers.Find(weight, out string? reason);
        if (layer is null)
        {
            result.Note($"'{name}': {reason}; pruned by magnitude without reconstruction");
            return;
        }
        var stored = weight.AsFloat().ToArray();
        weight.ReleasePages();
        var updated = (float[])pruned.Clone();
        double magnitude = 0, sparse = 0, reference = 0, dampUsed = 0;
        string bias = "";
        for (int g = 0; g < layer.Groups; g++)
        {
            if (_batches.Statistics(layer, out reason, g) is not var (h, mean))
            {
                _batches.Release(layer);
                result.Note($"'{name}': {reason}; pruned by magnitude without reconstruction");
                return;
            }
            int k = layer.Rows, n = layer.GroupColumns;
            var original = layer.ReadGroup(stored, g);
            var w = layer.ReadGroup(pruned, g);
            // This group's H is done with after SparseGPT (the layer's statistics are released next): it is
            // factored in place, and freed here either way.
            using (h)
            {
                var (error, total) = LayerError.Terms(h, original, w, k, n);
                magnitude += error;
                reference += total;
                if (_sparseGpt is { } options)
                {
                    double sparsity = (double)WeightPruning.CountZeros(pruned) / pruned.Length;
                    var info = keepN > 0
                        ? PruneNofM(layer, original, w, h, options with { PruneN = groupM - keepN, GroupM = groupM })
                        : SparseGpt.PruneInPlace(original, w, k, n, h, options with { Sparsity = sparsity });
                    sparse += info.Error;
                    if (info.DampUsed > options.Damp) dampUsed = Math.Max(dampUsed, info.DampUsed);
                }
            }
            if (_biasCorrection) bias = TeacherLayers.CorrectBias(layer, original, w, mean, g);
            layer.WriteGroup<float>(updated, g, w);
        }
        _batches.Release(layer);
        string summary = string.Create(CultureInfo.InvariantCulture, $"magnitude {Ratio(magnitude, reference):E3}");
        if (_sparseGpt is not null)
            summary = string.Create(CultureInfo.InvariantCulture, $"sparsegpt {Ratio(sparse, reference):E3}, {summary}{(dampUsed > 0 ? $", damp raised to {dampUsed}" : "")}");
        result.Note($"'{name}': relative layer output error on calibration data: {summary}{bias}");
        updated.CopyTo(pruned, 0);
    }

    private static double Ratio(double error, double reference) => reference > 0 ? error / reference : 0;

    // N:M runs along the input channels, as magnitude pruning's (Conv [M, C/g, kH, kW]: groups of M channels at one
    // kernel position), so a Conv's rows and H are regrouped by kernel position for SparseGPT and back.
    private static ReconstructionInfo PruneNofM(LinearWeight layer, float[] original, float[] w, SymmetricMatrix h, SparseGptOptions options)
    {
        int n = layer.GroupColumns;
        var order = layer.IsConv ? KernelPositionOrder.Of(layer) : null;
        if (order is null || order.Positions == 1) return SparseGpt.PruneInPlace(original, w, layer.Rows, n, h, options);
        var pw = new float[order.Rows * n];
        var info = SparseGpt.PruneInPlace(order.Gather(original, n), pw, order.Rows, n, order.Gather(h), options);
        order.Scatter(pw, w, n);
        return info;
    }
}
