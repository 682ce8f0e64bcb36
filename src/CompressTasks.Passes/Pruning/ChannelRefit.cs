using System.Globalization;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// <c>reconstruct: least-squares</c> for <see cref="PruneChannels"/>: after a group's channels are removed, every
/// MatMul/Gemm/Conv that read them gets its kept input rows refitted so that its output matches the teacher's on the
/// calibration data (ThiNet, He et al. 2017; <see cref="LeastSquaresRefit"/>).
/// </summary>
/// <remarks>
/// <code>
///   consumer y = Wᵀ x,  x = the group's channels (K = C·f inputs, f = H·W after a Flatten, else 1)
///   Conv consumer:  x = its im2col patches (K = C·kH·kW, f = kH·kW: channel c's patch features are c·f … c·f + f − 1)
///   kept inputs S = { c·f … c·f + f − 1 : c kept };   W'_S = argmin Σ ‖W'ᵀ x_S − Wᵀ x‖² + λ‖W'‖²
///                                                  = (H_SS + λ I)⁻¹ H_S· W,   λ = damp · mean(diag H_SS)
/// </code>
/// H is the second moment of the consumer's input in the teacher (the original model), collected for every
/// consumer in one run before any channel is removed. When the removed channels are linear combinations of kept
/// ones the teacher output is reproduced up to the ridge. The consumer's bias is left as it is (the fit already
/// matches the teacher's output without it). Grouped Conv and ConvTranspose consumers keep the plain slice, with a
/// note.
/// </remarks>
internal sealed class ChannelRefit
{
    private readonly TeacherStatistics _teacher;
    private readonly double _damp;

    private ChannelRefit(TeacherStatistics teacher, double damp)
    {
        _teacher = teacher;
        _damp = damp;
    }

    /// <summary>The parameters this branch adds to prune-channels.</summary>
    public static ParameterSpec[] Parameters { get; } =
    [
        ParameterSpec.Enum("reconstruct", "none", ["none", "least-squares"], "none: remove the channels' contribution; least-squares: refit the MatMul/Gemm/Conv layers reading them to the teacher's outputs (needs calibration data)."),
        ParameterSpec.Float("damp", 0.001, "least-squares: ridge λ as a fraction of the mean of H's diagonal over the kept inputs.", minimum: 0, maximum: 1),
    ];

    /// <summary>The refit the arguments ask for, or null; <paramref name="missing"/> is the skip reason without calibration data.</summary>
    public static ChannelRefit? Create(PassArguments arguments, PassContext context, out string? missing)
    {
        missing = null;
        if (arguments.GetString("reconstruct") != "least-squares") return null;
        if (context.Teacher is not { } teacher)
        {
            missing = PassContext.MissingCalibration("reconstruct: least-squares");
            return null;
        }
        return new ChannelRefit(teacher, arguments.GetDouble("damp"));
    }

    /// <summary>A consumer weight's new values, in its stored layout after the slice.</summary>
    public sealed record Fit(Constant Weight, float[] Values);

    /// <summary>Collects the statistics of every MatMul/Gemm/Conv consumer of <paramref name="groups"/> in one teacher run.</summary>
    public void Collect(Graph graph, IEnumerable<ChannelGroup> groups) =>
        TeacherLayers.Prefetch(_teacher, groups.SelectMany(g => Consumers(graph, g)).Select(c => TeacherLayers.Find(c, out _)).OfType<LinearWeight>());

    /// <summary>
    /// Before the group's surgery: the refitted kept rows of each MatMul/Gemm consumer for the channels in
    /// <paramref name="keep"/>; notes for the consumers that are not refitted. Write them with <see cref="Store"/> after it.
    /// </summary>
    public List<Fit> Prepare(Graph graph, ChannelGroup group, int channels, int[] keep, PassResult result)
    {
        var fits = new List<Fit>();
        foreach (var s in group.Slices)
        {
            if (group.Producers.Contains(s.Node) || s.Node.Inputs.Count < 2 || s.Node.Inputs[1] != s.Name) continue;
            if (s.Node.Is("ConvTranspose"))
            {
                result.Note($"{s.Node}: ConvTranspose consumers are not refitted; its input channels are only removed");
                continue;
            }
            if (!s.Node.Is("MatMul") && !s.Node.Is("Gemm") && !s.Node.Is("Conv")) continue;
            var weight = graph.TryGetConstant(s.Name)!;
            var layer = TeacherLayers.Find(weight, out string? reason);
            if (layer is { Groups: > 1 })
            {
                reason = "a grouped Conv's groups would change";
                layer = null;
            }
            var statistics = layer is null ? null : TeacherLayers.Statistics(_teacher, layer, out reason);
            if (layer is null || statistics is not var (symmetric, _))
            {
                result.Note($"{s.Node}: not refitted ({reason})");
                continue;
            }
            // The solver wants both triangles in double; a sum over several readers was a new matrix.
            var h = symmetric.ToDouble();
            if (layer.Readers.Count > 1) symmetric.Dispose();
            int k = layer.Rows, n = layer.Columns, factor = k / channels;
            var kept = new int[keep.Length * factor];
            for (int i = 0; i < keep.Length; i++)
                for (int f = 0; f < factor; f++) kept[i * factor + f] = keep[i] * factor + f;
            var w = layer.ReadRowsByInput();
            var refit = new float[kept.Length * n];
            double damp = LeastSquaresRefit.Solve(h, w, k, n, kept, _damp, refit);
            // The layer output error on the calibration data, plain slice vs refit, both as [K, N] with removed rows 0
            // (an exact refit's tr(ΔᵀHΔ) can come out a rounding error below 0; it is shown as 0).
            var plain = new float[w.Length];
            var fitted = new float[w.Length];
            for (int i = 0; i < kept.Length; i++)
            {
                w.AsSpan(kept[i] * n, n).CopyTo(plain.AsSpan(kept[i] * n, n));
                refit.AsSpan(i * n, n).CopyTo(fitted.AsSpan(kept[i] * n, n));
            }
            result.Note(string.Create(CultureInfo.InvariantCulture,
                $"{s.Node}: least-squares refit of {kept.Length} of {k} inputs; relative output error on calibration data {LayerError.Relative(h, w, plain, k, n):E3} → {Math.Max(0, LayerError.Relative(h, w, fitted, k, n)):E3}{(damp > _damp ? $" (damp raised to {damp})" : "")}"));
            fits.Add(new Fit(weight, layer.Transposed ? TeacherLayers.Transpose(refit, kept.Length, n) : refit));
        }
        return fits;
    }

    /// <summary>Writes the refitted values into the sliced consumer weights.</summary>
    public static void Store(IEnumerable<Fit> fits)
    {
        foreach (var (weight, values) in fits)
        {
            if (weight.ElementCount != values.Length) throw new InvalidOperationException($"'{weight.Name}' has {weight.ElementCount} values after the slice, the refit {values.Length}");
            weight.Replace(1, weight.Dims.ToArray(), MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
    }

    // The weights of the group's MatMul/Gemm/Conv consumers (their input-axis slices).
    private static IEnumerable<Constant> Consumers(Graph graph, ChannelGroup group) =>
        group.Slices.Where(s => !group.Producers.Contains(s.Node) && (s.Node.Is("MatMul") || s.Node.Is("Gemm") || s.Node.Is("Conv")) && s.Node.Inputs.Count > 1 && s.Node.Inputs[1] == s.Name)
            .Select(s => graph.TryGetConstant(s.Name)).OfType<Constant>();
}
