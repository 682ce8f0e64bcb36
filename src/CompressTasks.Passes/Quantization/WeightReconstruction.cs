using System.Globalization;
using CompressTasks.Graphs;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Quantization;

/// <summary>One weight in its stored form: codes in the weight's own layout, and per-channel scales and zero points.</summary>
internal sealed record QuantizedWeight(byte[] Values, float[] Scales, byte[] ZeroPoints, int ElementType);

/// <summary>
/// The teacher-guided branch of weight quantization (int8 per channel, int4 in blocks along K): <c>method: gptq</c>
/// (error compensation through the teacher's input statistics, <see cref="Gptq"/>) and <c>bias-correction</c> (the
/// expected output shift moved into the layer's bias, <see cref="BiasCorrection"/>), for weights read only as input
/// 1 of MatMul, Gemm or Conv in the main graph.
/// </summary>
/// <remarks>
/// <code>
///   MatMul(x, W [K, N])            statistics of x over its last axis
///   Gemm(A, B, C, transA, transB)  statistics of A (columns when transA = 1); B [N, K] is transposed when transB = 1
///   Conv(x, W [M, C/g, kH, kW], B)  statistics of x's im2col patches per group (<see cref="ConvPatches"/>); group g's
///                                  weight is W[M/g · g …] as [M/g, K], K = C/g · kH · kW, quantized against its own H
///   bias: Gemm's C [N] (C += α/β · shift), the constant [N] of the one Add reading the MatMul's output, or Conv's B
///         (a zero B [M] is added to a Conv without one)
/// </code>
/// Readers and statistics come from <see cref="TeacherLayers"/>, collected in memory-bounded batches
/// (<see cref="TeacherBatches"/>). A weight it cannot handle (per-tensor scales; a reader inside a subgraph; an input
/// the original model does not have; a 3-D Conv) is rounded to nearest, with a note saying why.
/// The notes also give each layer's relative output error tr(ΔᵀHΔ)/tr(WᵀHW) on the calibration data.
/// </remarks>
internal sealed class WeightReconstruction
{
    private readonly TeacherStatistics _teacher;
    private TeacherBatches? _batches;
    private readonly GptqOptions? _gptq;
    private readonly bool _biasCorrection;

    private readonly bool _sequential;

    private WeightReconstruction(TeacherStatistics teacher, GptqOptions? gptq, bool biasCorrection, bool sequential)
    {
        _teacher = teacher;
        _sequential = sequential;
        _gptq = gptq;
        _biasCorrection = biasCorrection;
    }

    /// <summary>The parameters this branch adds to a quantization pass.</summary>
    public static ParameterSpec[] Parameters { get; } = Build(LazyBlock);

    /// <summary>
    /// The same for a pass whose own <c>block-size</c> is its quantization block (quantize-int4): GPTQ's lazy-update
    /// block is then <c>gptq-block-size</c>.
    /// </summary>
    public static ParameterSpec[] BlockwiseParameters { get; } = Build(BlockwiseLazyBlock);

    private const string LazyBlock = "block-size", BlockwiseLazyBlock = "gptq-block-size";

    private static ParameterSpec[] Build(string lazyBlock) =>
    [
        ParameterSpec.Enum("method", "rtn", ["rtn", "gptq"], "rtn: round to nearest; gptq: compensate rounding errors through the teacher's input statistics (needs calibration data)."),
        ParameterSpec.Int(lazyBlock, 128, "gptq: rows quantized between lazy updates of the rest of the weight.", minimum: 1),
        ParameterSpec.Float("damp", 0.01, "gptq: damping added to H's diagonal, as a fraction of its mean.", minimum: 0, maximum: 1),
        ParameterSpec.Bool("act-order", false, "gptq: quantize inputs in order of decreasing activation energy."),
        ParameterSpec.Bool("bias-correction", false, "Move the expected output shift E[(W − Ŵ)ᵀx] into the layer's bias (needs calibration data)."),
        ParameterSpec.Bool("sequential", false, "gptq/bias-correction: take each layer's statistics from the model with the layers before it already quantized (one calibration run per layer)."),
    ];

    /// <summary>
    /// The branch the arguments ask for, or null for plain round to nearest. <paramref name="missing"/> is the skip
    /// reason when calibration data is needed but the run has none.
    /// </summary>
    public static WeightReconstruction? Create(PassArguments arguments, PassContext context, out string? missing)
    {
        missing = null;
        bool gptq = arguments.GetString("method") == "gptq";
        bool bias = arguments.GetBool("bias-correction");
        if (!gptq && !bias) return null;
        if (context.Teacher is not { } teacher)
        {
            missing = PassContext.MissingCalibration(gptq ? "method: gptq" : "bias-correction");
            return null;
        }
        var options = gptq ? new GptqOptions(arguments.GetInt(arguments.Pass.FindParameter(BlockwiseLazyBlock) is null ? LazyBlock : BlockwiseLazyBlock), arguments.GetDouble("damp"), arguments.GetBool("act-order")) : null;
        return new WeightReconstruction(teacher, options, bias, arguments.GetBool("sequential"));
    }

    /// <summary>
    /// Plans the statistics of every reader of <paramref name="weights"/>, to be visited in this order: they are
    /// collected in memory-bounded batches (<see cref="TeacherBatches"/>) as the weights are quantized.
    /// </summary>
    public void Collect(IEnumerable<Constant> weights) =>
        _batches = new TeacherBatches(_teacher, weights.Select(w => TeacherLayers.Find(w, out _)).OfType<LinearWeight>().ToList(), _sequential);

    /// <summary>
    /// Quantizes <paramref name="constant"/> (8 bits, per channel on <paramref name="axis"/>) from the statistics and
    /// corrects its bias; null (with a note) when it must be rounded to nearest instead. A grouped Conv is quantized
    /// group by group, each against its own statistics.
    /// </summary>
    public QuantizedWeight? Quantize(Constant constant, int axis, bool symmetric, PassResult result)
    {
        if (axis < 0)
        {
            result.Note($"'{constant.Name}': reconstruction needs per-channel scales; rounded to nearest without reconstruction");
            return null;
        }
        var codes = new byte[constant.ElementCount];
        var scales = new float[constant.Dims[axis]];
        var zeroPoints = new byte[scales.Length];
        bool done = ReconstructGroups(constant, (k, columns) => new LinearWeightQuantizer(k, columns, 8, symmetric), (layer, g, quantizer) =>
        {
            int n = layer.GroupColumns;
            layer.WriteGroup<byte>(codes, g, quantizer.Codes);
            quantizer.Scales.CopyTo(scales, g * n);
            quantizer.ZeroPoints.CopyTo(zeroPoints, g * n);
        }, result);
        if (!done) return null;
        int elementType = (int)(symmetric ? TensorProto.Types.DataType.Int8 : TensorProto.Types.DataType.Uint8);
        return new QuantizedWeight(codes, scales, zeroPoints, elementType);
    }

    /// <summary>
    /// Quantizes every group of <paramref name="constant"/> (one for MatMul/Gemm and an ungrouped Conv) with a
    /// quantizer from <paramref name="create"/>(K, N/groups), GPTQ or round to nearest, then bias correction, as
    /// asked, and hands each filled quantizer (codes [K, N/groups]) to <paramref name="store"/>. False (with a note)
    /// when the weight must be rounded to nearest the plain way instead. With <paramref name="order"/> (a Conv's int4
    /// blocks along its input channels) the rows and H are regrouped by kernel position first: the quantizer then has
    /// <see cref="KernelPositionOrder.Rows"/> rows in that order, while bias correction and the notes see the weight
    /// as stored.
    /// </summary>
    public bool ReconstructGroups(Constant constant, Func<int, int, LinearWeightQuantizer> create, Action<LinearWeight, int, LinearWeightQuantizer> store, PassResult result,
        KernelPositionOrder? order = null)
    {
        if (Layer(constant, result) is not { } layer) return false;
        // Read in place (a view of the payload, which is replaced only after every group is done).
        var stored = constant.AsFloat();
        var notes = new Notes();
        for (int g = 0; g < layer.Groups; g++)
        {
            if (Fit(layer, stored, g, create, notes, out string? reason, order) is not { } quantizer)
            {
                result.Note($"'{constant.Name}': {reason}; rounded to nearest without reconstruction");
                _batches!.Release(layer);
                return false;
            }
            store(layer, g, quantizer);
        }
        _batches!.Release(layer);
        result.Note($"'{constant.Name}': relative layer output error on calibration data: {notes}");
        return true;
    }

    /// <summary>
    /// Quantizes <paramref name="constant"/>'s [K, N] view with a quantizer from <paramref name="create"/>(K, N):
    /// GPTQ or round to nearest, then bias correction, as asked. Returns the layer and the filled quantizer (codes in
    /// [K, N] order), or null (with a note) when it must be rounded to nearest the plain way instead (also for a
    /// grouped Conv, which has no single [K, N] view).
    /// </summary>
    public (LinearWeight Layer, LinearWeightQuantizer Quantizer)? Reconstruct(Constant constant, Func<int, int, LinearWeightQuantizer> create, PassResult result)
    {
        if (Layer(constant, result) is not { } layer) return null;
        var notes = new Notes();
        string? reason = null;
        var quantizer = layer.Groups == 1 ? Fit(layer, constant.AsFloat(), 0, create, notes, out reason) : null;
        _batches!.Release(layer);
        if (quantizer is null)
        {
            result.Note($"'{constant.Name}': {(layer.Groups == 1 ? reason : "a grouped Conv has no single [K, N] view")}; rounded to nearest without reconstruction");
            return null;
        }
        result.Note($"'{constant.Name}': relative layer output error on calibration data: {notes}");
        return (layer, quantizer);
    }

    private LinearWeight? Layer(Constant constant, PassResult result)
    {
        _batches ??= new TeacherBatches(_teacher, [], _sequential);
        var layer = TeacherLayers.Find(constant, out string? reason);
        if (layer is null) result.Note($"'{constant.Name}': {reason}; rounded to nearest without reconstruction");
        return layer;
    }

    // The output-error terms of every group, summed, and the bias notes.
    private sealed class Notes
    {
        public double Nearest, Gptq, Reference;
        public double DampUsed;
        public string Bias = "";
        public bool HasGptq;

        public override string ToString()
        {
            double nearest = Reference > 0 ? Nearest / Reference : 0, gptq = Reference > 0 ? Gptq / Reference : 0;
            string summary = string.Create(CultureInfo.InvariantCulture, $"round to nearest {nearest:E3}");
            if (HasGptq) summary = string.Create(CultureInfo.InvariantCulture, $"gptq {gptq:E3}, {summary}{(DampUsed > 0 ? $", damp raised to {DampUsed}" : "")}");
            return summary + Bias;
        }
    }

    // One group's [K, N/groups] weight (the whole weight when ungrouped): RTN, then GPTQ and bias correction as asked.
    private LinearWeightQuantizer? Fit(LinearWeight layer, ReadOnlySpan<float> stored, int group, Func<int, int, LinearWeightQuantizer> create, Notes notes, out string? reason,
        KernelPositionOrder? order = null)
    {
        if (_batches!.Statistics(layer, out reason, group) is not var (h, mean)) return null;
        try
        {
            int k = layer.Rows, n = layer.GroupColumns;
            var w = layer.ReadGroup(stored, group);
            // The stored weight is read for the last time (it will be replaced): its mapped pages need not stay.
            if (group == layer.Groups - 1) layer.Constant.ReleasePages();
            var fitted = w;
            if (order is not null)
            {
                // Padding rows are zero in W and H, so the output-error terms below are those of the stored weight.
                (fitted, h, k) = (order.Gather(w, n), order.Reorder(h), order.Rows);
            }
            var quantizer = create(k, n);
            var dequantized = new float[fitted.Length];
            quantizer.QuantizeNearest(fitted, dequantized);
            var (nearest, reference) = LayerError.Terms(h, fitted, dequantized, k, n);
            notes.Nearest += nearest;
            notes.Reference += reference;
            if (_gptq is { } options)
            {
                // The round-to-nearest quantizer is reused: GPTQ refits every group and requantizes every row.
                // H is not needed after this (mean is apart, and the layer's statistics are released next), so GPTQ
                // factors it in place rather than beside a copy: the widest layers' peak is one triangle, not two.
                var info = Gptq.QuantizeInPlace(fitted, dequantized, h, quantizer, options);
                notes.Gptq += info.Error;
                notes.HasGptq = true;
                if (info.DampUsed > options.Damp) notes.DampUsed = Math.Max(notes.DampUsed, info.DampUsed);
            }
            if (order is not null && _biasCorrection)
            {
                var reordered = dequantized;
                order.Scatter(reordered, dequantized = new float[w.Length], n);
            }
            if (_biasCorrection) notes.Bias = TeacherLayers.CorrectBias(layer, w, dequantized, mean, group);
            return quantizer;
        }
        finally
        {
            // Consumed by GPTQ or not, this group's H is done with (the layer's statistics are released next).
            h.Dispose();
        }
    }
}
