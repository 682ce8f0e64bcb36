using System.Globalization;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// Structured pruning: removes whole output channels of Conv (and output columns of Gemm/MatMul weights) and
/// everything downstream that reads them, so tensors, parameters and FLOPs genuinely shrink.
/// </summary>
/// <remarks>
/// <code>
///   x ─Conv(W [C,..], b)─▶ BN(γ,β,μ,σ² [C]) ─Relu─▶ dwConv(group C) ─▶ Conv(V [O,C,..])
///     ⇒ the same nodes with W [C',..], b, γ, β, μ, σ² [C'], the depthwise weight [C',1,..] and group C', V [O,C',..]
/// </code>
/// Channels are ranked by <c>criterion</c>: the L1 or L2 norm of each channel's weights (summed over coupled
/// producers) or Σ|γ| of the BatchNormalizations they pass through (L1 where there are none); the lowest
/// ⌊ratio·C⌋ go (<c>scope: layer</c>), or the lowest across all groups by score relative to the group's mean
/// (<c>scope: global</c>, each group capped at <c>max-layer-ratio</c>). Ties go by index; at least one channel stays.
/// <code>
///   x ─A [C,..]─▶ grouped Conv G (group g, W [M, C/g, ..]) ─▶ B [O, M, ..]
///     ⇒ each of the g blocks of C/g channels loses ⌊count/g⌋ of its own lowest; G's rows of block j keep block j's
///       kept channels (W [M, C'/g, ..]), group stays g. G's own outputs likewise: ⌊count/g⌋ from each block of M/g.
///   Concat(a [Ca], x [Cx], b [Cb]) ─▶ Conv(V [O, Ca+Cx+Cb, ..])
///     ⇒ a's and b's groups prune on their own; V loses a's channels in [0, Ca) and b's in [Ca+Cx, Ca+Cx+Cb).
/// </code>
/// Which ops the channels may pass through, and what makes a group coupled, is <see cref="ChannelGroups"/>.
/// BatchNormalization is handled (fold it first with fuse-conv-bn or not; both work). Preconditions (skips naming
/// the node and why): every producer in a group is selected (<see cref="WeightSelection"/>), every constant to slice
/// is float32 and read by that node only, and the channels never reach a graph output or an op that is not
/// understood; with <c>prune-coupled: false</c>, channels several producers share (residual streams, which are the
/// most sensitive) stay whole. A pruned channel's contribution is removed, not compensated, unless
/// <c>reconstruct: least-squares</c> refits the MatMul/Gemm/Conv layers that read the channels to the teacher's outputs on
/// the recipe's calibration data (<see cref="ChannelRefit"/>; without calibration data every group is skipped, saying so).
/// </remarks>
public sealed class PruneChannels : GraphPass
{
    private static readonly string[] Supported = ["Conv", "Gemm", "MatMul"];

    public override PassDescriptor Descriptor { get; } = new(
        "prune-channels", PassKind.Pruning,
        "Removes the least important output channels of Conv/Gemm/MatMul layers and rewires BN, depthwise and grouped convs, biases, Concats and the next layers' inputs.",
        [
            ParameterSpec.Ratio("ratio", 0.25, "Fraction of each layer's (or, with scope: global, of all) output channels to remove."),
            ParameterSpec.Enum("criterion", "l1", ["l1", "l2", "bn-gamma"], "Channel importance: L1 or L2 norm of its weights, or |γ| of the BatchNormalization after it."),
            ParameterSpec.Enum("scope", "layer", ["layer", "global"], "layer: each group loses the ratio; global: lowest relative scores across all groups."),
            ParameterSpec.Ratio("max-layer-ratio", 0.75, "scope: global only: no group loses more than this fraction of its channels."),
            ParameterSpec.Bool("prune-coupled", true, "Also prune channel groups that several layers share (a residual stream); false leaves them whole."),
            .. WeightSelection.Parameters(Supported, 256),
            .. ChannelRefit.Parameters,
        ],
        "- prune-channels: { ratio: 0.25, criterion: l1, keep-last: true }");

    private sealed record Planned(ChannelGroup Group, List<ChannelSlice> Slices, int Channels, double[] Scores);

    public override void Run(Graph main, PassArguments arguments, PassResult result) => Run(main, arguments, result, PassContext.None);

    public override void Run(Graph main, PassArguments arguments, PassResult result, PassContext context)
    {
        var selection = WeightSelection.From(arguments, Supported, result);
        var refit = ChannelRefit.Create(arguments, context, out string? missingCalibration);
        var selected = selection.Select(main, result, _ => 1).Where(u => u.Node.Graph == main).Select(u => u.Node).ToHashSet();
        string criterion = arguments.GetString("criterion");
        bool pruneCoupled = arguments.GetBool("prune-coupled");
        var groups = ChannelGroups.Find(main, IsProducer);
        var planned = new List<Planned>();
        bool fellBack = false;
        foreach (var group in groups)
        {
            result.RecordMatch();
            if (group.Refusal is null && group.Producers.FirstOrDefault(p => !selected.Contains(p)) is { } unselected)
                group.Refusal = $"{unselected} is not selected";
            if (!pruneCoupled && group.Refusal is null && group.Producers.Count > 1) group.Refusal = "coupled channels are left whole (prune-coupled: false)";
            if (missingCalibration is not null) group.Refusal ??= missingCalibration;
            if (ChannelSurgery.Plan(main, group, out int channels, out string? refusal) is not { } slices)
            {
                result.Skip($"channels of {group.Describe()}: {refusal}");
                continue;
            }
            double[]? scores = criterion == "bn-gamma" ? ChannelSurgery.Gammas(main, group, channels) : null;
            fellBack |= criterion == "bn-gamma" && scores is null;
            scores ??= ChannelSurgery.Norms(main, group, channels, criterion == "l2");
            planned.Add(new Planned(group, slices, channels, scores));
        }
        if (fellBack) result.Note("criterion bn-gamma: groups without a BatchNormalization were ranked by L1 norm");

        double ratio = arguments.GetDouble("ratio");
        var counts = arguments.GetString("scope") == "global"
            ? GlobalCounts(planned, ratio, arguments.GetDouble("max-layer-ratio"))
            : planned.Select(p => Math.Min((int)Math.Floor(ratio * p.Channels), p.Channels - 1)).ToArray();
        refit?.Collect(main, planned.Where((_, i) => counts[i] > 0).Select(p => p.Group));
        long before = 0, after = 0;
        for (int i = 0; i < planned.Count; i++)
        {
            var p = planned[i];
            before += p.Channels;
            if (counts[i] == 0)
            {
                after += p.Channels;
                continue;
            }
            if (Keep(p, counts[i]) is not { } keep)
            {
                int parts = p.Group.Partition;
                result.Skip($"channels of {p.Group.Describe()}: {p.Group.PartitionNode} (group {parts}) needs the same number of channels removed from each of its {parts} blocks of {p.Channels / parts}; "
                    + $"removing {counts[i]} of {p.Channels} is less than one per block (raise the ratio to at least {1.0 / (p.Channels / parts):P0})");
                after += p.Channels;
                continue;
            }
            after += keep.Length;
            var fits = refit?.Prepare(main, p.Group, p.Channels, keep, result);
            ChannelSurgery.Apply(main, p.Group, p.Slices, p.Channels, keep);
            if (fits is not null) ChannelRefit.Store(fits);
            result.RecordRewrite();
            result.Note($"{p.Group.Describe()}: {p.Channels} → {keep.Length} channels");
        }
        if (planned.Count > 0)
            result.Note(string.Create(CultureInfo.InvariantCulture, $"prunable channels {before:N0} → {after:N0} ({100.0 * (before - after) / before:F1}% removed) in {planned.Count} of {groups.Count} groups"));
    }

    // Conv (not depthwise: that one passes its input's channels through), Gemm and MatMul with a 2-D float weight
    // start a group of output channels.
    private static bool IsProducer(Node node)
    {
        if (node.Inputs.Count < 2 || node.Graph!.TryGetConstant(node.Inputs[1]) is not { DataType: 1 } w) return false;
        long group = node.GetInt("group", 1);
        return node.OpType switch
        {
            "Conv" => w.Dims.Count >= 3 && (group == 1 || (group > 1 && !(w.Dims[1] == 1 && w.Dims[0] == group))),
            "Gemm" or "MatMul" => w.Dims.Count == 2,
            _ => false,
        };
    }

    // The lowest scores go, ties by index; the kept channels stay in their order. With a partition (grouped Convs)
    // each block loses ⌊count / parts⌋ of its own lowest; null when that is none.
    private static int[]? Keep(Planned p, int count)
    {
        int parts = p.Group.Partition, size = p.Channels / parts, per = count / parts;
        if (per == 0) return null;
        var keep = new List<int>(p.Channels - per * parts);
        for (int j = 0; j < parts; j++)
        {
            var order = Enumerable.Range(j * size, size).OrderBy(c => p.Scores[c]).ThenBy(c => c).ToArray();
            keep.AddRange(order[per..].Order());
        }
        return [.. keep];
    }

    // Global: every channel's score over its group's mean score, the lowest ratio·ΣC go, no group beyond its cap.
    private static int[] GlobalCounts(List<Planned> planned, double ratio, double cap)
    {
        var all = new List<(double Score, int Group, int Channel)>();
        for (int g = 0; g < planned.Count; g++)
        {
            double mean = planned[g].Scores.Average();
            for (int c = 0; c < planned[g].Channels; c++) all.Add((mean > 0 ? planned[g].Scores[c] / mean : 0, g, c));
        }
        all.Sort();
        var counts = new int[planned.Count];
        long wanted = (long)Math.Floor(ratio * all.Count);
        foreach (var (_, g, _) in all)
        {
            if (wanted == 0) break;
            int limit = Math.Min((int)Math.Floor(cap * planned[g].Channels), planned[g].Channels - 1);
            if (counts[g] >= limit) continue;
            counts[g]++;
            wanted--;
        }
        return counts;
    }
}
