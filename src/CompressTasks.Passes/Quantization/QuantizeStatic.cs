using System.Numerics.Tensors;
using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Kernels.Calibration;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization.Static;
using CompressTasks.Runtime.Data;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Static (calibrated) int8 quantization in QDQ form: weights stored as int8, activations measured on the
/// recipe's calibration data and wrapped in QuantizeLinear/DequantizeLinear pairs, placed so that ONNX Runtime
/// fuses each quantized operator into an integer kernel (QLinearConv, QLinearMatMul, QGemm, QLinearAdd…).
/// </summary>
/// <remarks>
/// <code>
///   x ─▶ Conv(W, b) ─▶ Relu ─▶ y ─▶ Conv …
///     ⇒
///   x ─Q─DQ─▶ Conv(DQ(W_int8, s_w), DQ(b_int32, s_x·s_w)) ─▶ Relu ─▶ y ─Q─DQ─▶ Conv …
///   (ONNX Runtime: QLinearConv ─▶ QLinearConv …, the Relu absorbed by y's zero point = qmin)
/// </code>
/// Activations: range [a, b] from the chosen estimator (min/max, percentile, KL entropy) over the calibration
/// batches, widened to contain 0; s = (b − a)/255, z = round(qmin − a/s) in uint8 (default, what x86 CPUs fuse)
/// or int8. Weights: symmetric int8, s = max|w|/127 per output channel (opset 13) or per tensor (opset 10).
/// Biases of Conv/Gemm: int32 with s = s_x·s_w. Which ops get Q/DQ is the table in <see cref="QdqOperators"/>.
/// Calibration runs the float model as it stands before this pass through ONNX Runtime with optimizations off.
/// Preconditions (skips, with a reason): calibration data in the recipe (<c>calibration:</c>); opset ≥ 10 (13
/// with per-channel), never raised; main graph only (subgraphs stay float); weights chosen by the shared
/// <see cref="WeightSelection"/> parameters, float32 and finite. Graph inputs and outputs keep their names and types.
/// </remarks>
public sealed class QuantizeStatic : GraphPass
{
    public override PassDescriptor Descriptor { get; } = new(
        "quantize-static", PassKind.Quantization,
        "Calibrated int8 quantization of weights and activations (QDQ), placed where ONNX Runtime runs integer kernels; needs calibration data.",
        [
            ParameterSpec.Enum("method", "minmax", ["minmax", "percentile", "entropy"],
                "Activation range estimator: minmax (every value fits), percentile (clips the tails), entropy (KL-optimal clipping, as TensorRT)."),
            ParameterSpec.Float("percentile", 99.99, "With method percentile: the share of values (in %) the range keeps.", minimum: 50, maximum: 100),
            ParameterSpec.Enum("activation-type", "uint8", ["uint8", "int8"],
                "Integer type of activations; x86 CPUs fuse Conv/MatMul only with uint8."),
            ParameterSpec.Bool("per-channel", true, "One weight scale per output channel (needs opset 13) instead of one per tensor (opset 10)."),
            ParameterSpec.Int("calibration-batches", 0, "Calibration batches to run (0: all of them).", minimum: 0),
            ParameterSpec.StringList("activation-op-types", "Weightless op types quantized when they feed quantized ops: "
                + string.Join(", ", QdqOperators.ActivationTypes) + ".", QdqOperators.ActivationTypes),
            .. WeightSelection.Parameters(QdqOperators.WeightedTypes, 1),
        ],
        "- quantize-static: { method: entropy, activation-type: uint8, per-channel: true }");

    public override void Run(Graph main, PassArguments arguments, PassResult result) => Run(main, arguments, result, PassContext.None);

    public override void Run(Graph main, PassArguments arguments, PassResult result, PassContext context)
    {
        bool perChannel = arguments.GetBool("per-channel");
        long opset = main.GetOpsetVersion("") ?? 0;
        if (context.Calibration is not { } calibration)
        {
            result.Skip("no calibration data: name it in the recipe (calibration: data/calib.npy, a .npz/.pb file or a folder)");
            return;
        }
        if (opset < 10)
        {
            result.Skip($"opset {opset} has no QuantizeLinear/DequantizeLinear (needs 10, or 13 per channel); upgrade the model's opset first (convert-opset), it is never raised silently");
            return;
        }
        if (perChannel && opset < 13)
        {
            result.Skip($"opset {opset} has no per-axis DequantizeLinear (needs 13); set per-channel: false or upgrade the opset first");
            return;
        }
        if (main.Nodes.Any(n => n.Subgraphs.Count > 0)) result.Note("nodes inside subgraphs are left float (calibration sees the main graph only)");

        var selection = WeightSelection.From(arguments, QdqOperators.WeightedTypes, result);
        var uses = selection.Select(main, result, _ => 1).Where(u => u.Node.Graph == main && u.Weight.Graph == main).ToList();
        var activationOps = arguments.GetStringList("activation-op-types").ToHashSet(StringComparer.Ordinal);
        foreach (var type in activationOps.Where(t => !QdqOperators.ActivationTypes.Contains(t)))
            result.Note($"activation-op-types: '{type}' is not supported ({string.Join(", ", QdqOperators.ActivationTypes)}); ignored");

        ActivationCalibrator calibrator;
        try
        {
            calibrator = ActivationCalibrator.Open(main);
        }
        catch (CompressTasksException e)
        {
            result.Skip($"ONNX Runtime cannot run the model for calibration: {e.Message}");
            return;
        }
        using (calibrator)
        {
            // Each weight is checked once, however many readers it has.
            var rejected = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var use in uses)
                if (!rejected.ContainsKey(use.Weight.Name) && (rejected[use.Weight.Name] = WeightSkip(use.Weight)) is { } reason) result.Skip(reason);
            var weighted = uses.Where(u => rejected[u.Weight.Name] is null).Select(u => u.Node).ToHashSet();
            var plan = QdqPlan.Build(main, weighted, activationOps, calibrator.ElementTypes, result);
            if (plan.Nodes.Count == 0) return;

            IReadOnlyList<IReadOnlyDictionary<string, Runtime.TensorValue>> batches;
            try
            {
                var feeds = FeedLoader.Load(calibration, calibrator.Inputs, maxRows: int.MaxValue);
                int limit = arguments.GetInt("calibration-batches");
                batches = limit > 0 && feeds.Count > limit ? [.. feeds.Take(limit)] : feeds;
            }
            catch (CompressTasksException e)
            {
                result.Skip($"calibration data {calibration} does not fit the model: {e.Message}");
                return;
            }
            var ranges = calibrator.Calibrate(plan.Activations, batches, Estimator(arguments));
            result.Note($"calibrated {plan.Activations.Count} activation(s) on {batches.Count} batch(es) with {arguments.GetString("method")}");
            Rewrite(main, plan, ranges, arguments, result);
        }
    }

    private static Func<IRangeEstimator> Estimator(PassArguments arguments)
    {
        double percentile = arguments.GetDouble("percentile");
        return arguments.GetString("method") switch
        {
            "percentile" => () => new PercentileEstimator(percentile),
            "entropy" => () => new EntropyEstimator(),
            _ => () => new MinMaxEstimator(),
        };
    }

    private static string? WeightSkip(Constant weight)
    {
        if (weight.DataType != 1) return $"'{weight.Name}' is {Model.DataTypes.Name(weight.DataType)}, not float32";
        if (!float.IsFinite(TensorPrimitives.MaxMagnitude(weight.AsFloat()))) return $"'{weight.Name}' holds NaN or infinity";
        return null;
    }

    private static void Rewrite(Graph main, QdqPlan plan, (float Min, float Max)[] ranges, PassArguments arguments, PassResult result)
    {
        bool signed = arguments.GetString("activation-type") == "int8";
        int elementType = signed ? 3 : 2;
        var parameters = new Dictionary<string, (float Scale, int ZeroPoint)>(StringComparer.Ordinal);
        for (int i = 0; i < plan.Activations.Count; i++)
            parameters[plan.Activations[i]] = ActivationQuantization.FromRange(ranges[i].Min, ranges[i].Max, signed);
        // Data-movement outputs take their input's parameters, in graph order so chains resolve front to back.
        foreach (var node in plan.Nodes)
            if (plan.SharedFrom.TryGetValue(node.Outputs[0], out var source)) parameters[node.Outputs[0]] = parameters[source];

        // Each weighted node's input scale, read before its input is renamed to the dequantized value.
        var weighted = plan.Nodes.Where(n => QdqOperators.Find(n.OpType)!.Role == QdqRole.Weighted)
            .Select(n => (n, parameters[n.Inputs[0]].Scale)).ToList();
        foreach (var name in plan.Activations)
        {
            var readers = main.GetConsumers(name).Where(u => u.Node.Graph == main).ToList();
            var (scale, zero) = parameters[name];
            QdqWriter.QuantizeActivation(main, name, scale, zero, elementType, readers);
        }
        WeightRewriter.Rewrite(main, weighted, arguments.GetBool("per-channel"), result);
        result.RecordRewrite(plan.Nodes.Count);
    }
}
