using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using static CompressTasks.Passes.Versioning.AdapterEdits;

namespace CompressTasks.Passes.Versioning;

/// <summary>
/// Rewrites one node across one op version change. <see cref="Check"/> has no side effects and returns why the
/// node cannot be carried across (null when it can); <see cref="Apply"/> runs only once every node of the model
/// passed its checks, so an upgrade is all or nothing.
/// </summary>
/// <param name="Name">The key <see cref="OpsetHistory"/> names it by.</param>
/// <param name="Check">Why this node cannot cross the change, or null.</param>
/// <param name="Apply">The rewrite.</param>
/// <param name="RenamesTo">The op the node becomes (Upsample → Resize), whose later history then applies.</param>
internal sealed record OpsetAdapter(string Name, Func<Node, ElementTypes, string?> Check, Action<Node, ElementTypes> Apply, string? RenamesTo = null);

/// <summary>
/// The adapters <see cref="OpsetHistory"/> refers to, one per kind of op change. Facts from the ONNX operator
/// changelog; the comment on each says what changed at that version.
/// </summary>
internal static class OpsetAdapters
{
    private const int Float = 1, Int64 = 7;

    private static readonly Func<Node, ElementTypes, string?> Always = (_, _) => null;

    private static readonly Dictionary<string, OpsetAdapter> All = new OpsetAdapter[]
    {
        // Opset 6: the legacy consumed_inputs attribute (in-place hints) was removed from many ops.
        new("consumed", Always, (n, _) => Drop(n, "consumed_inputs")),
        // Opset 7: the broadcast/axis attributes gave way to numpy-style multidirectional broadcasting. Without
        // axis, legacy broadcasting matched trailing dimensions, which numpy rules also do.
        new("broadcast", (n, _) => n.GetInt("broadcast", 0) != 0 && n.FindAttribute("axis") is not null
            ? $"{n} uses legacy broadcasting along axis {n.GetInt("axis", 0)}" : null,
            (n, _) => Drop(n, "broadcast", "axis")),
        // Gemm 7: C broadcasts unidirectionally; the broadcast flag went away.
        new("gemm-7", Always, (n, _) => Drop(n, "broadcast")),
        // BatchNormalization 7: is_test removed (inference is the only mode without extra outputs).
        new("batchnorm-7", TrainingOutputs, (n, _) => Drop(n, "is_test")),
        // BatchNormalization 9: spatial removed; spatial = 1 (per-channel statistics) is the only behaviour left.
        new("batchnorm-9", (n, t) => n.GetInt("spatial", 1) == 0 ? $"{n} normalizes per activation (spatial = 0)" : TrainingOutputs(n, t),
            (n, _) => Drop(n, "spatial")),
        // BatchNormalization 14: training_mode added; the optional running-statistics outputs now mean training.
        new("batchnorm-14", TrainingOutputs, (_, _) => { }),
        // Cast 6: `to` became an int (a TensorProto.DataType) instead of a type name string.
        new("cast-6", (n, types) => n.FindAttribute("to") is { Type: AttributeProto.Types.AttributeType.String } a
            && !Enum.TryParse<TensorProto.Types.DataType>(a.S.ToStringUtf8(), true, out _) ? $"{n} casts to unknown type '{a.S.ToStringUtf8()}'" : null,
            (n, _) =>
            {
                if (n.FindAttribute("to") is not { Type: AttributeProto.Types.AttributeType.String } a) return;
                Drop(n, "to");
                SetInt(n, "to", (int)Enum.Parse<TensorProto.Types.DataType>(a.S.ToStringUtf8(), true));
            }),
        // Clip 11: min and max moved from attributes to optional inputs of the input's type.
        new("clip-11", (n, t) => n.FindAttribute("min") is null && n.FindAttribute("max") is null ? null : NeedsFloatType(n, t),
            (n, t) =>
            {
                int type = t.Get(n.Graph!, n.Inputs[0]);
                var min = Take(n, "min");
                var max = Take(n, "max");
                if (min is not null) SetInputAt(n, 1, Scalar(n, "min", type, min.F));
                if (max is not null) SetInputAt(n, 2, Scalar(n, "max", type, max.F));
            }),
        // Concat 4: axis became required (it defaulted to 1).
        new("concat-4", Always, (n, _) => { if (n.FindAttribute("axis") is null) SetInt(n, "axis", 1); }),
        // ConvTranspose 11: the SAME_* auto_pad split of the total padding was redefined; explicit pads are unchanged.
        new("conv-transpose-11", (n, _) => n.GetString("auto_pad", "NOTSET") is "SAME_UPPER" or "SAME_LOWER"
            ? $"{n} uses auto_pad {n.GetString("auto_pad")}, whose padding split changed at 11" : null, (_, _) => { }),
        // Dropout 7: is_test removed (Dropout is the identity at inference).
        new("dropout-7", Always, (n, _) => Drop(n, "is_test")),
        // Dropout 10: the mask output became bool instead of the input's type.
        new("dropout-10", (n, _) => n.Outputs.Count > 1 && n.Outputs[1].Length > 0 && (n.Graph!.UseCount(n.Outputs[1]) > 0 || n.Graph.MustKeepName(n.Outputs[1]))
            ? $"{n} has its mask read, whose type changes at 10" : null, (_, _) => { }),
        // Dropout 12: ratio moved from an attribute to an optional input (training_mode became an input too).
        new("dropout-12", Always, (n, _) => { if (Take(n, "ratio") is { } r) SetInputAt(n, 1, Scalar(n, "ratio", Float, r.F)); }),
        // Pad 2: the paddings attribute was renamed pads.
        new("pad-2", Always, (n, _) => { if (n.FindAttribute("paddings") is { } a) a.Name = "pads"; }),
        // Pad 11: pads and value moved to inputs (pads int64, constant_value of the input's type).
        new("pad-11", (n, t) => n.GetFloat("value", 0) == 0 ? null : NeedsFloatType(n, t),
            (n, t) =>
            {
                var pads = Take(n, "pads");
                SetInputAt(n, 1, Int64s(n, "pads", pads?.Ints.ToArray() ?? []));
                if (Take(n, "value") is { } v && v.F != 0) SetInputAt(n, 2, Scalar(n, "value", t.Get(n.Graph!, n.Inputs[0]), v.F));
            }),
        // Reshape 5: the target shape moved from an attribute to an input.
        new("reshape-5", Always, (n, _) => { if (Take(n, "shape") is { } s) SetInputAt(n, 1, Int64s(n, "shape", [.. s.Ints])); }),
        // Slice 10: starts, ends and axes moved to inputs (and steps was added).
        new("slice-10", Always, (n, _) =>
        {
            var starts = Take(n, "starts");
            var ends = Take(n, "ends");
            var axes = Take(n, "axes");
            SetInputAt(n, 1, Int64s(n, "starts", starts?.Ints.ToArray() ?? []));
            SetInputAt(n, 2, Int64s(n, "ends", ends?.Ints.ToArray() ?? []));
            if (axes is not null) SetInputAt(n, 3, Int64s(n, "axes", [.. axes.Ints]));
        }),
        // Split 2: the optional second input `split` was removed (the attribute stayed).
        new("split-2", (n, _) => n.Inputs.Count > 1 && n.Inputs[1].Length > 0 ? $"{n} takes its split sizes as an input" : null, (_, _) => { }),
        // Split 13: split moved from an attribute to an optional input.
        new("split-13", Always, (n, _) => { if (Take(n, "split") is { } s) SetInputAt(n, 1, Int64s(n, "split", [.. s.Ints])); }),
        // Squeeze, Unsqueeze and ReduceSum 13: axes moved from an attribute to an input.
        new("axes-13", Always, (n, _) => { if (Take(n, "axes") is { } a) SetInputAt(n, 1, Int64s(n, "axes", [.. a.Ints])); }),
        // The other Reduce ops 18 (ReduceL1, L2, LogSum, LogSumExp, Max, Mean, Min, Prod, SumSquare): axes moved from
        // an attribute to an optional input; without either, all axes are reduced as before (noop_with_empty_axes = 0).
        new("axes-18", Always, (n, _) => { if (Take(n, "axes") is { } a) SetInputAt(n, 1, Int64s(n, "axes", [.. a.Ints])); }),
        // Split 18: without a split input, the number of equal parts must be given as num_outputs (Split 13 took it
        // from the number of outputs).
        new("split-18", Always, (n, _) => { if (n.Inputs.Count < 2 || n.Inputs[1].Length == 0) SetInt(n, "num_outputs", n.Outputs.Count); }),
        // GridSample 20: the interpolation modes bilinear and bicubic were renamed linear and cubic (nearest stays).
        new("grid-sample-20", Always, (n, _) =>
        {
            if (n.GetString("mode") is { } mode && mode is "bilinear" or "bicubic") SetString(n, "mode", mode == "bilinear" ? "linear" : "cubic");
        }),
        // TopK 10: k moved from an attribute to an input (int64 [1]).
        new("topk-10", Always, (n, _) => { if (Take(n, "k") is { } k) SetInputAt(n, 1, Int64s(n, "k", [k.I])); }),
        // Upsample 9: scales moved from an attribute to an input.
        new("upsample-9", Always, (n, _) => { if (Take(n, "scales") is { } s) SetInputAt(n, 1, Floats(n, "scales", [.. s.Floats])); }),
        // Upsample 10: deprecated in favour of Resize-10, which has the same inputs and modes.
        new("upsample-10", Always, (n, _) => n.Proto.OpType = "Resize", RenamesTo: "Resize"),
        // Resize 11: roi input inserted before scales; the default coordinate mapping became half_pixel, while
        // Resize-10 mapped asymmetrically (x_original = x_resized / scale) and rounded down in nearest mode.
        new("resize-11", Always, (n, _) =>
        {
            var scales = n.Inputs[1];
            SetInputAt(n, 2, scales);
            n.SetInput(1, Floats(n, "roi", []));
            SetString(n, "coordinate_transformation_mode", "asymmetric");
            if (n.GetString("mode", "nearest") == "nearest") SetString(n, "nearest_mode", "floor");
        }),
        // Scatter 11: deprecated in favour of ScatterElements, with the same semantics.
        new("scatter-11", Always, (n, _) => n.Proto.OpType = "ScatterElements", RenamesTo: "ScatterElements"),
        // RoiAlign 16: coordinate_transformation_mode added, defaulting to half_pixel; before, output_half_pixel.
        new("roi-align-16", Always, (n, _) => SetString(n, "coordinate_transformation_mode", "output_half_pixel")),
        // GRU, LSTM, RNN 7: output_sequence removed (outputs became plainly optional).
        new("rnn-7", Always, (n, _) => Drop(n, "output_sequence")),
        // Softmax, LogSoftmax, Hardmax 13: the op works along one axis (default -1) instead of flattening the
        // input to 2-D at axis (default 1): see SoftmaxAdapter.
        new("softmax-13", Always, SoftmaxAdapter.Apply),
    }.ToDictionary(a => a.Name, StringComparer.Ordinal);

    /// <summary>The adapter called <paramref name="name"/>; a typo in the table is a broken invariant.</summary>
    public static OpsetAdapter Get(string name) =>
        All.TryGetValue(name, out var adapter) ? adapter : throw new InvalidOperationException($"opset history names unknown adapter '{name}'");

    private static string? TrainingOutputs(Node n, ElementTypes _) =>
        n.Outputs.Skip(1).Any(o => o.Length > 0) ? $"{n} has training-mode outputs" : null;

    private static string? NeedsFloatType(Node n, ElementTypes types) =>
        types.Get(n.Graph!, n.Inputs[0]) is 1 or 10 or 11 ? null : $"{n}: cannot tell the float type of '{n.Inputs[0]}' for its new inputs";
}
