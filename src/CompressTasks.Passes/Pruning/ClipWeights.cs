using System.Globalization;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// Clamps weight outliers of MatMul, Gemm and Conv, usually right before int8 quantization: a few large values
/// stretch the scale max|w|/127 for every other value in their tensor or channel.
/// </summary>
/// <remarks>
/// <code>
///   W: float32 [..] ─▶ MatMul/Gemm/Conv      ⇒      W' = clamp(W, lo, hi), same name and shape ─▶ the same readers
///   percentile p:  hi = −lo = the ⌈p·n⌉-th smallest |w|          sigma k:  lo, hi = μ ∓ k·σ
/// </code>
/// over the whole tensor (<c>per: tensor</c>) or each output channel (<c>per: channel</c>: Conv axis 0, Gemm axis 0
/// with transB = 1 else 1, MatMul the last axis; readers that disagree on the axis get one range per tensor).
/// Preconditions (skips, with a reason): W is a float32 constant chosen by <see cref="WeightSelection"/> and read
/// only by selected nodes. The note for each tensor says how many values were clipped and the new max |w|.
/// </remarks>
public sealed class ClipWeights : GraphPass
{
    private static readonly string[] Supported = ["MatMul", "Gemm", "Conv"];

    public override PassDescriptor Descriptor { get; } = new(
        "clip-weights", PassKind.Pruning,
        "Clamps MatMul/Gemm/Conv weight outliers by magnitude percentile or k·σ, per tensor or per output channel.",
        [
            ParameterSpec.Enum("method", "percentile", ["percentile", "sigma"], "percentile: keep the given fraction of |w| inside the bound; sigma: clamp to mean ± k·σ."),
            ParameterSpec.Ratio("percentile", 0.9999, "method: percentile: fraction of magnitudes that stay as they are."),
            ParameterSpec.Float("sigma", 3, "method: sigma: k, the number of standard deviations kept.", minimum: 0.1),
            ParameterSpec.Enum("per", "tensor", ["tensor", "channel"], "One range per tensor, or one per output channel."),
            .. WeightSelection.Parameters(Supported, 1024),
        ],
        "- clip-weights: { method: sigma, sigma: 4, per: channel }");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        var selection = WeightSelection.From(arguments, Supported, result);
        bool sigma = arguments.GetString("method") == "sigma";
        double p = arguments.GetDouble("percentile"), k = arguments.GetDouble("sigma");
        bool perChannel = arguments.GetString("per") == "channel";
        foreach (var group in selection.Select(main, result, _ => 1).GroupBy(u => (u.Weight.Graph, u.Weight.Name)))
        {
            var weight = group.First().Weight;
            result.RecordMatch();
            if (weight.DataType != 1)
            {
                result.Skip($"'{weight.Name}' is {Model.DataTypes.Name(weight.DataType)}, not float32");
                continue;
            }
            if (weight.UseCount != group.Count())
            {
                result.Skip($"'{weight.Name}' is also read by nodes that are not selected; clipping it would change them too");
                continue;
            }
            var axes = group.Select(u => ChannelAxis.Of(u.Node, weight.Dims.Count)).Distinct().ToList();
            int axis = perChannel && axes.Count == 1 ? axes[0] : -1;
            if (perChannel && axes.Count > 1) result.Note($"'{weight.Name}': readers want different channel axes; one range per tensor");

            var values = weight.AsFloat().ToArray();
            float maxBefore = TensorPrimitives.MaxMagnitude(values);
            if (!float.IsFinite(maxBefore))
            {
                result.Skip($"'{weight.Name}' holds NaN or infinity");
                continue;
            }
            long clipped = axis < 0 ? Clip(values, sigma, p, k) : ClipChannels(values, weight.Dims, axis, sigma, p, k);
            if (clipped > 0) weight.Replace(1, weight.Dims.ToArray(), MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
            result.Note(string.Create(CultureInfo.InvariantCulture,
                $"'{weight.Name}': clipped {clipped:N0} of {values.Length:N0} values ({100.0 * clipped / values.Length:F2}%), max |w| {maxBefore:G4} → {TensorPrimitives.MaxMagnitude(values):G4}"));
            if (clipped > 0) result.RecordRewrite();
        }
    }

    private static long Clip(Span<float> values, bool sigma, double p, double k)
    {
        if (values.Length == 0) return 0;
        if (sigma)
        {
            var (mean, std) = WeightPruning.MeanStdDev(values);
            return WeightPruning.Clamp(values, (float)(mean - k * std), (float)(mean + k * std));
        }
        var scratch = new float[values.Length];
        float bound = WeightPruning.MagnitudePercentile(values, p, scratch);
        return WeightPruning.Clamp(values, -bound, bound);
    }

    // Each channel of the [outer, channels, inner] view is gathered into one buffer, clipped and scattered back.
    private static long ClipChannels(float[] values, IReadOnlyList<long> dims, int axis, bool sigma, double p, double k)
    {
        int channels = (int)dims[axis];
        long inner = 1;
        for (int d = axis + 1; d < dims.Count; d++) inner *= dims[d];
        int outer = (int)(values.Length / (channels * inner));
        var buffer = new float[outer * inner];
        long clipped = 0;
        for (int c = 0; c < channels; c++)
        {
            for (int o = 0; o < outer; o++)
                values.AsSpan((int)((o * channels + c) * inner), (int)inner).CopyTo(buffer.AsSpan((int)(o * inner), (int)inner));
            long n = Clip(buffer, sigma, p, k);
            if (n == 0) continue;
            clipped += n;
            for (int o = 0; o < outer; o++)
                buffer.AsSpan((int)(o * inner), (int)inner).CopyTo(values.AsSpan((int)((o * channels + c) * inner), (int)inner));
        }
        return clipped;
    }
}
