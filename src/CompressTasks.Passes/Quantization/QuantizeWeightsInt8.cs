using System.Numerics.Tensors;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Weight-only int8: stores the constant weights of MatMul, Gemm and Conv as 8-bit integers with a scale (and
/// zero point) and dequantizes them back to float32 inside the graph. About a quarter of the bytes; compute
/// stays float32 (ONNX Runtime may fold the DequantizeLinear, or fuse it into an integer kernel).
/// </summary>
/// <remarks>
/// <code>
///   W: float32 [..] ─▶ MatMul/Gemm/Conv (input 1), other readers
///     ⇒
///   W_quantized: int8 [..], W_scale: float32 [C], W_zero_point: int8 [C]
///     ─DequantizeLinear(axis=a)─▶ W ─▶ the same readers
/// </code>
/// symmetric: s = max|w|/127, z = 0, q ∈ [−127, 127] (int8); asymmetric: s = (max − min)/255 over a range that
/// contains 0, q ∈ [0, 255] (uint8). Dequantized weights are off by at most s/2 (see <see cref="Int8Quantization"/>).
/// W keeps its name, so readers, sharing (one DequantizeLinear serves them all, target or not), subgraph reads and
/// graph outputs stay as they were. Per-channel axis a: Conv 0 (output channels); Gemm 0 with transB = 1, else 1;
/// MatMul the last axis (output columns). Readers that disagree on the axis get one per-tensor scale.
/// Preconditions (skips, with a reason): DequantizeLinear exists from opset 10, its <c>axis</c> from opset 13 (the
/// opset is never raised); W is a float32 constant chosen by the shared <see cref="WeightSelection"/> parameters, all finite; an
/// initializer that is also a graph input (IR 4 and later) is a default the caller may override, so it is left alone.
/// Bias inputs (input 2) are never quantized.
/// <c>method: gptq</c> and <c>bias-correction: true</c> fit MatMul/Gemm/Conv weights (Conv: over im2col patches, per group) to the teacher's outputs on the
/// recipe's calibration data (see <see cref="WeightReconstruction"/>); the stored format is the same. Without
/// calibration data every candidate is skipped, saying so.
/// </remarks>
public sealed class QuantizeWeightsInt8 : GraphPass
{
    private static readonly string[] Supported = ["MatMul", "Gemm", "Conv"];

    public override PassDescriptor Descriptor { get; } = new(
        "quantize-weights-int8", PassKind.Quantization,
        "Stores MatMul/Gemm/Conv weights as int8 with scales (about a quarter of the size) and dequantizes them inside the graph.",
        [
            ParameterSpec.Bool("per-channel", true, "One scale per output channel (needs opset 13) instead of one per tensor (opset 10)."),
            ParameterSpec.Bool("symmetric", true, "int8 with zero point 0 and scale max|w|/127; false: uint8 with a zero point from min/max."),
            .. WeightSelection.Parameters(Supported, 1024),
            .. WeightReconstruction.Parameters,
        ],
        "- quantize-weights-int8: { per-channel: true, symmetric: true, min-elements: 1024 }");

    private sealed class Candidate(Constant constant)
    {
        public Constant Constant { get; } = constant;

        public HashSet<int> Axes { get; } = [];
    }

    public override void Run(Graph main, PassArguments arguments, PassResult result) => Run(main, arguments, result, PassContext.None);

    public override void Run(Graph main, PassArguments arguments, PassResult result, PassContext context)
    {
        bool perChannel = arguments.GetBool("per-channel");
        bool symmetric = arguments.GetBool("symmetric");
        var selection = WeightSelection.From(arguments, Supported, result);

        // One candidate per weight, however many readers it has (in any graph).
        var candidates = new Dictionary<(Graph, string), Candidate>();
        foreach (var (node, constant) in selection.Select(main, result, _ => 1))
        {
            var key = (constant.Graph, constant.Name);
            if (!candidates.TryGetValue(key, out var candidate)) candidates[key] = candidate = new Candidate(constant);
            candidate.Axes.Add(ChannelAxis.Of(node, constant.Dims.Count));
        }

        long opset = main.GetOpsetVersion("") ?? 0;
        var reconstruction = WeightReconstruction.Create(arguments, context, out string? missingCalibration);
        var accepted = new List<(Constant Constant, int Axis)>();
        foreach (var candidate in candidates.Values)
        {
            var constant = candidate.Constant;
            result.RecordMatch();
            int axis = perChannel && candidate.Axes.Count == 1 ? candidate.Axes.Single() : -1;
            if (perChannel && candidate.Axes.Count > 1)
                result.Note($"'{constant.Name}': readers want different channel axes ({string.Join(", ", candidate.Axes.Order())}); one scale per tensor");
            if ((Skip(constant, opset, perChannel) ?? (missingCalibration is null ? null : $"'{constant.Name}': {missingCalibration}")) is { } reason)
            {
                result.Skip(reason);
                continue;
            }
            accepted.Add((constant, axis));
        }
        reconstruction?.Collect(accepted.Select(a => a.Constant));
        foreach (var (constant, axis) in accepted)
        {
            Rewrite(constant, axis, reconstruction?.Quantize(constant, axis, symmetric, result) ?? Int8Weights.Nearest(constant, axis, symmetric));
            result.RecordRewrite();
        }
    }

    private static string? Skip(Constant constant, long opset, bool perChannel)
    {
        string name = constant.Name;
        if (opset < 10)
            return $"'{name}': opset {opset} has no DequantizeLinear; set a higher opset in the recipe (10 per tensor, 13 per channel) to quantize it";
        if (perChannel && opset < 13)
            return $"'{name}': opset {opset} has no per-axis DequantizeLinear (needs 13); set per-channel: false or a higher opset";
        if (constant.DataType != 1) return $"'{name}' is {DataTypes.Name(constant.DataType)}, not float32";
        if (!float.IsFinite(TensorPrimitives.MaxMagnitude(constant.AsFloat()))) return $"'{name}' holds NaN or infinity";
        return null;
    }

    private static void Rewrite(Constant constant, int axis, QuantizedWeight weight) =>
        Int8Weights.ReplaceWithDequantize(constant, weight.ElementType, weight.Values, weight.Scales, weight.ZeroPoints, axis);
}
