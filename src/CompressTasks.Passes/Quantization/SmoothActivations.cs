using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Activation smoothing (SmoothQuant, Xiao et al. 2022) before quantize-dynamic or quantize-static: moves the range of
/// an activation's outlier channels into the weights that read it, so one activation scale per tensor fits the other
/// channels better. Exact in float: only the split of the product between X and W changes.
/// </summary>
/// <remarks>
/// <code>
///   X ─MatMul(W1 [K, N1])─▶            X ─Mul(1/s: [K])─▶ X' ─MatMul(s·W1)─▶      (other readers of X keep X)
///     ─MatMul(W2 [K, N2])─▶     ⇒                          ─MatMul(s·W2)─▶
///     ─Add (residual)                  X ─Add (residual)
///
///   LayerNormalization(x, γ, β) ─▶ X   ⇒   LayerNormalization(x, γ/s, β/s) ─▶ X'   (X read by the group only)
///   Mul(n, γ) ─Add(β)─▶ X              ⇒   Mul(n, γ/s) ─Add(β/s)─▶ X'             (a decomposed LayerNorm's end)
/// </code>
/// The layers reading one activation X form a group; per input channel j, over all the group's weights,
/// s_j = max(max|X_j|^α / max|W_j,:|^(1−α), min-scale), and s_j = 1 where either maximum is 0 or not finite.
/// (X/s)·(s·W) = X·W. α and min-scale: on all-MiniLM-L6-v2 under quantize-dynamic (one uint8 range per activation,
/// per-column int8 weights) α = 0.5 loses accuracy, α = 0.7–0.8 gains, and min-scale 1 (no channel scaled up, so no
/// quiet channel widens the activation's range) adds to it; measured in eng/benchmarks/README.md.
/// max|X_j| is measured along X's last axis on the recipe's calibration data, running the model as it stands before
/// this pass (as quantize-static does: earlier passes may have renamed values of the original). Gemm is handled with
/// transA = 0 (transB = 1 reads W as [N, K]: its columns are scaled). Skips, with a reason: no calibration data;
/// weights that are not finite 2-D float32 constants; weights also read by other nodes, by layers reading other
/// activations, or that are graph outputs (scaling them would change those readers); activations inside subgraphs.
/// The opset is never raised.
/// </remarks>
public sealed class SmoothActivations : GraphPass
{
    private static readonly string[] Supported = ["MatMul", "Gemm"];

    public override PassDescriptor Descriptor { get; } = new(
        "smooth-activations", PassKind.Quantization,
        "Moves activation outliers into the weights (SmoothQuant): scales each input channel of a MatMul/Gemm's activation down by s and the weight's row up by s, from calibration data; exact in float. Run it before quantize-dynamic or quantize-static on transformers whose activations carry a few outlier channels.",
        [
            ParameterSpec.Float("alpha", 0.8, "Migration strength α in s = max|X|^α / max|W|^(1−α): 0 flattens the weights' rows (s = 1/max|W|), 1 flattens the activation's channels (s = max|X|). 0.8, not the paper's 0.5: on all-MiniLM-L6-v2 under quantize-dynamic 0.5 lost accuracy and 0.7–0.8 gained most (eng/benchmarks/README.md).", minimum: 0, maximum: 1),
            ParameterSpec.Float("min-scale", 1, "Smallest s_j: 1 (default) never scales an activation channel up (nor a weight row down), which keeps a quiet channel from widening the activation's one range; 0 applies the formula as it is.", minimum: 0, maximum: 1),
            .. WeightSelection.Parameters(Supported, 1024),
        ],
        "- smooth-activations: { alpha: 0.8, min-scale: 1 }");

    /// <summary>The layers (reader, weight, layout) that read one activation.</summary>
    private sealed record Group(string Activation, int Channels, List<Node> Readers, List<Constant> Weights, List<bool> Transposed);

    public override void Run(Graph main, PassArguments arguments, PassResult result) => Run(main, arguments, result, PassContext.None);

    public override void Run(Graph main, PassArguments arguments, PassResult result, PassContext context)
    {
        double alpha = arguments.GetDouble("alpha");
        float minScale = (float)arguments.GetDouble("min-scale");
        var selection = WeightSelection.From(arguments, Supported, result);
        var groups = Groups(main, selection.SelectWeights(main, result, _ => 1), result);
        if (groups.Count == 0) return;
        if (context.Calibration is not { } calibration)
        {
            foreach (var g in groups) SkipGroup(g, PassContext.MissingCalibration($"smoothing '{g.Activation}'"));
            return;
        }
        ChannelMaxima ranges;
        try
        {
            ranges = ChannelRanges.Collect(main.Model, calibration, [.. groups.Select(g => g.Activation)]);
        }
        catch (CompressTasksException e)
        {
            foreach (var g in groups) SkipGroup(g, $"'{g.Activation}': the model could not be run on the calibration data {calibration}: {e.Message}");
            return;
        }
        result.Note($"measured {groups.Count} activation(s) on {ranges.Batches} calibration batch(es)");
        foreach (var g in groups)
        {
            result.RecordMatch();
            if (ranges.Problems.TryGetValue(g.Activation, out var problem)) result.Skip(problem);
            else if (!ranges.Maxima.TryGetValue(g.Activation, out var maxima)) result.Skip($"'{g.Activation}' was not measured (no calibration batch reached it)");
            else if (maxima.Length != g.Channels) result.Skip($"'{g.Activation}' has {maxima.Length} channels on its last axis, its weights {g.Channels}");
            else
            {
                var scales = Scales(maxima, WeightMaxima(g), alpha, minScale);
                string how = Rewrite(main, g, scales);
                result.RecordRewrite();
                result.Note(Describe(g, scales, maxima, how));
            }
        }

        void SkipGroup(Group g, string reason)
        {
            result.RecordMatch();
            result.Skip(reason);
        }
    }

    /// <summary>
    /// s_j = max(a_j^α / w_j^(1−α), minimum), or 1 where a_j or w_j is 0 or not finite (or s_j would not be a normal float).
    /// </summary>
    private static float[] Scales(ReadOnlySpan<float> activationMaxima, ReadOnlySpan<float> weightMaxima, double alpha, float minimum)
    {
        var s = new float[activationMaxima.Length];
        for (int j = 0; j < s.Length; j++)
        {
            float a = activationMaxima[j], w = weightMaxima[j];
            double value = a > 0 && w > 0 && float.IsFinite(a) && float.IsFinite(w) ? Math.Pow(a, alpha) / Math.Pow(w, 1 - alpha) : 1;
            float f = (float)value;
            s[j] = float.IsNormal(f) && float.IsNormal(1 / f) ? MathF.Max(f, minimum) : 1;
        }
        return s;
    }

    private static List<Group> Groups(Graph main, IReadOnlyList<SelectedWeight> selected, PassResult result)
    {
        var groups = new List<Group>();
        var byActivation = new Dictionary<string, Group>(StringComparer.Ordinal);
        foreach (var (weight, readers) in selected)
        {
            if (WeightSkip(main, weight, readers) is { } reason)
            {
                result.Skip(reason);
                continue;
            }
            bool transposed = readers[0].Is("Gemm") && readers[0].GetInt("transB", 0) != 0;
            int channels = (int)weight.Dims[transposed ? 1 : 0];
            string x = readers[0].Inputs[0];
            if (!byActivation.TryGetValue(x, out var group))
            {
                if (main.TryGetConstant(x) is not null)
                {
                    result.Skip($"'{weight.Name}': its activation '{x}' is a constant (fold-constants folds the product)");
                    continue;
                }
                byActivation[x] = group = new Group(x, channels, [], [], []);
                groups.Add(group);
            }
            else if (group.Channels != channels)
            {
                result.Skip($"'{weight.Name}' has {channels} input channels, the other layers reading '{x}' {group.Channels}");
                continue;
            }
            group.Readers.AddRange(readers);
            group.Weights.Add(weight);
            group.Transposed.Add(transposed);
        }
        return groups;
    }

    private static string? WeightSkip(Graph main, Constant weight, IReadOnlyList<Node> readers)
    {
        string name = weight.Name;
        if (weight.Graph != main || readers.Any(r => r.Graph != main))
            return $"'{name}' is inside a subgraph; calibration sees the main graph only";
        if (weight.DataType != 1 || weight.Dims.Count != 2) return $"'{name}' is not a 2-D float32 weight";
        if (main.UseCount(name) != readers.Count || main.MustKeepName(name))
            return $"'{name}' is also read by other nodes or is a graph output; scaling it would change them";
        foreach (var r in readers)
        {
            if (r.Is("Gemm") && r.GetInt("transA", 0) != 0) return $"'{name}': {r} has transA = 1";
            if (r.Inputs[0] != readers[0].Inputs[0])
                return $"'{name}' is shared by layers reading different activations ('{readers[0].Inputs[0]}', '{r.Inputs[0]}'); scaling it for one would change the other";
            if ((r.Is("Gemm") && r.GetInt("transB", 0) != 0) != (readers[0].Is("Gemm") && readers[0].GetInt("transB", 0) != 0))
                return $"'{name}': its readers disagree on its layout (transB)";
        }
        if (!float.IsFinite(TensorPrimitives.MaxMagnitude(weight.AsFloat()))) return $"'{name}' holds NaN or infinity";
        return null;
    }

    /// <summary>max|W_j,:| per input channel j over every weight of the group.</summary>
    private static float[] WeightMaxima(Group g)
    {
        var acc = new float[g.Channels];
        for (int i = 0; i < g.Weights.Count; i++)
        {
            ReadOnlySpan<float> w = g.Weights[i].AsFloat();
            int k = g.Channels, n = w.Length / k;
            if (g.Transposed[i])
            {
                // [N, K]: fold row by row.
                for (int r = 0; r < n; r++) TensorPrimitives.MaxMagnitude(acc, w.Slice(r * k, k), acc);
            }
            else
            {
                for (int j = 0; j < k; j++) acc[j] = Math.Max(Math.Abs(acc[j]), Math.Abs(TensorPrimitives.MaxMagnitude(w.Slice(j * n, n))));
            }
        }
        TensorPrimitives.Abs(acc, acc);
        return acc;
    }

    private static string Rewrite(Graph graph, Group g, float[] s)
    {
        for (int i = 0; i < g.Weights.Count; i++)
        {
            var weight = g.Weights[i];
            ReadOnlySpan<float> w = weight.AsFloat();
            var scaled = new float[w.Length];
            int k = g.Channels, n = w.Length / k;
            if (g.Transposed[i])
                for (int r = 0; r < n; r++) TensorPrimitives.Multiply(w.Slice(r * k, k), s, scaled.AsSpan(r * k, k));
            else
                for (int j = 0; j < k; j++) TensorPrimitives.Multiply(w.Slice(j * n, n), s[j], scaled.AsSpan(j * n, n));
            weight.Replace(1, [.. weight.Dims], MemoryMarshal.AsBytes(scaled.AsSpan()).ToArray());
        }

        if (FoldTarget(graph, g) is { } fold)
        {
            foreach (var constant in fold.Constants)
            {
                var divided = new float[g.Channels];
                TensorPrimitives.Divide(constant.AsFloat(), s, divided);
                constant.Replace(1, [.. constant.Dims], MemoryMarshal.AsBytes(divided.AsSpan()).ToArray());
            }
            return $"folded into {string.Join(", ", fold.Constants.Select(c => $"'{c.Name}'"))} ({fold.Producer})";
        }

        var inverse = new float[g.Channels];
        TensorPrimitives.Divide(1f, s, inverse);
        var factor = Weights.Add(graph, g.Activation + "_smooth_scale", 1, [g.Channels], MemoryMarshal.AsBytes(inverse.AsSpan()).ToArray());
        string smoothed = graph.FreshName(g.Activation + "_smoothed");
        var first = g.Readers[0];
        foreach (var r in g.Readers)
            if (graph.PositionOf(r) < graph.PositionOf(first)) first = r;
        var mul = new NodeProto { OpType = "Mul", Name = graph.FreshName(g.Activation + "_smooth_Mul") };
        mul.Input.Add([g.Activation, factor.Name]);
        mul.Output.Add(smoothed);
        graph.InsertBefore(first, mul);
        foreach (var r in g.Readers) r.SetInput(0, smoothed);
        return "Mul inserted (X has other readers, or a producer it cannot be folded into)";
    }

    private sealed record Fold(Node Producer, List<Constant> Constants);

    /// <summary>
    /// The producer's constants that X / s can be folded into exactly, or null: X is read by the group alone and is
    /// made by LayerNormalization (γ, β constant) or by Mul(·, γ) [→ Add(·, β)], each constant [K] and read once.
    /// </summary>
    private static Fold? FoldTarget(Graph graph, Group g)
    {
        string x = g.Activation;
        if (graph.MustKeepName(x) || graph.GetProducer(x) is not { } producer) return null;
        foreach (var use in graph.GetConsumers(x))
            if (use.Index != 0 || !g.Readers.Contains(use.Node)) return null;
        if (producer.Is("LayerNormalization") && producer.Outputs[0] == x && producer.Inputs.Count > 1)
        {
            var scale = ChannelConstant(graph, producer.Inputs[1], g.Channels);
            bool hasBias = producer.Inputs.Count > 2 && producer.Inputs[2].Length > 0;
            var bias = hasBias ? ChannelConstant(graph, producer.Inputs[2], g.Channels) : null;
            return scale is null || (hasBias && bias is null) ? null : new Fold(producer, bias is null ? [scale] : [scale, bias]);
        }
        if (producer.Is("Mul") && ChannelOperand(graph, producer, g.Channels) is { } gamma) return new Fold(producer, [gamma.Constant]);
        if (producer.Is("Add") && ChannelOperand(graph, producer, g.Channels) is { } beta)
        {
            string t = producer.Inputs[1 - beta.Index];
            if (graph.UseCount(t) != 1 || graph.MustKeepName(t) || graph.GetProducer(t) is not { } mul || !mul.Is("Mul")) return null;
            return ChannelOperand(graph, mul, g.Channels) is { } scale ? new Fold(mul, [scale.Constant, beta.Constant]) : null;
        }
        return null;
    }

    // The constant [K] operand of a two-input Mul/Add whose other operand is not a constant.
    private static (Constant Constant, int Index)? ChannelOperand(Graph graph, Node node, int channels)
    {
        if (node.Inputs.Count != 2) return null;
        for (int i = 0; i < 2; i++)
            if (ChannelConstant(graph, node.Inputs[i], channels) is { } c && graph.TryGetConstant(node.Inputs[1 - i]) is null) return (c, i);
        return null;
    }

    // A float32 constant of this graph holding K values along its last axis, read once and not a graph output.
    private static Constant? ChannelConstant(Graph graph, string name, int channels) =>
        graph.TryGetConstant(name) is { DataType: 1 } c && c.Graph == graph && c.Dims.Count >= 1 && c.Dims[^1] == channels
            && c.ElementCount == channels && graph.UseCount(name) == 1 && !graph.MustKeepName(name) ? c : null;

    private static string Describe(Group g, float[] s, float[] maxima, string how)
    {
        // The three largest activation maxima, by a small selection over K values.
        Span<int> top = [-1, -1, -1];
        for (int j = 0; j < maxima.Length; j++)
        {
            for (int t = 0; t < top.Length; t++)
            {
                if (top[t] >= 0 && maxima[top[t]] >= maxima[j]) continue;
                for (int u = top.Length - 1; u > t; u--) top[u] = top[u - 1];
                top[t] = j;
                break;
            }
        }
        var channels = new List<string>();
        foreach (int j in top)
            if (j >= 0) channels.Add($"{j} ({maxima[j]:G3})");
        return $"'{g.Activation}': {g.Weights.Count} layer(s), largest s {TensorPrimitives.Max(s):G3}, largest activations at channel {string.Join(", ", channels)}; {how}";
    }
}
