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
/// 1 of MatMul or Gemm in the main graph.
/// </summary>
/// <remarks>
/// <code>
///   MatMul(x, W [K, N])            statistics of x over its last axis
///   Gemm(A, B, C, transA, transB)  statistics of A (columns when transA = 1); B [N, K] is transposed when transB = 1
///   bias: Gemm's C [N] (C += α/β · shift), or the constant [N] of the one Add reading the MatMul's output
/// </code>
/// Readers and statistics come from <see cref="TeacherLayers"/>. A weight it cannot handle (Conv: no im2col
/// statistics yet; per-tensor scales; a reader inside a subgraph; an input the original model does not have) is
/// rounded to nearest, with a note saying why.
/// The notes also give each layer's relative output error tr(ΔᵀHΔ)/tr(WᵀHW) on the calibration data.
/// </remarks>
internal sealed class WeightReconstruction
{
    private readonly TeacherStatistics _teacher;
    private readonly GptqOptions? _gptq;
    private readonly bool _biasCorrection;

    private WeightReconstruction(TeacherStatistics teacher, GptqOptions? gptq, bool biasCorrection)
    {
        _teacher = teacher;
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
        return new WeightReconstruction(teacher, options, bias);
    }

    /// <summary>Collects, in one run of the teacher, the statistics of every reader of <paramref name="weights"/>.</summary>
    public void Collect(IEnumerable<Constant> weights) =>
        TeacherLayers.Prefetch(_teacher, weights.Select(w => TeacherLayers.Find(w, out _)).OfType<LinearWeight>());

    /// <summary>
    /// Quantizes <paramref name="constant"/> (8 bits, per channel on <paramref name="axis"/>) from the statistics and
    /// corrects its bias; null (with a note) when it must be rounded to nearest instead.
    /// </summary>
    public QuantizedWeight? Quantize(Constant constant, int axis, bool symmetric, PassResult result)
    {
        if (axis < 0)
        {
            result.Note($"'{constant.Name}': reconstruction needs per-channel scales; rounded to nearest without reconstruction");
            return null;
        }
        if (Reconstruct(constant, (k, n) => new LinearWeightQuantizer(k, n, 8, symmetric), result) is not var (layer, quantizer)) return null;
        int elementType = (int)(symmetric ? TensorProto.Types.DataType.Int8 : TensorProto.Types.DataType.Uint8);
        return new QuantizedWeight(layer.ToStoredLayout(quantizer.Codes), quantizer.Scales, quantizer.ZeroPoints, elementType);
    }

    /// <summary>
    /// Quantizes <paramref name="constant"/>'s [K, N] view with a quantizer from <paramref name="create"/>(K, N):
    /// GPTQ or round to nearest, then bias correction, as asked. Returns the layer and the filled quantizer (codes in
    /// [K, N] order), or null (with a note) when it must be rounded to nearest the plain way instead.
    /// </summary>
    public (LinearWeight Layer, LinearWeightQuantizer Quantizer)? Reconstruct(Constant constant, Func<int, int, LinearWeightQuantizer> create, PassResult result)
    {
        string name = constant.Name;
        var layer = TeacherLayers.Find(constant, out string? reason);
        var statistics = layer is null ? null : TeacherLayers.Statistics(_teacher, layer, out reason);
        if (layer is null || statistics is not var (h, mean))
        {
            result.Note($"'{name}': {reason}; rounded to nearest without reconstruction");
            return null;
        }
        int k = layer.Rows, n = layer.Columns;
        var w = layer.ReadRowsByInput();
        var quantizer = create(k, n);
        var dequantized = new float[w.Length];
        quantizer.QuantizeNearest(w, dequantized);
        double nearest = LayerError.Relative(h, w, dequantized, k, n);
        string summary = string.Create(CultureInfo.InvariantCulture, $"round to nearest {nearest:E3}");
        if (_gptq is { } options)
        {
            w.CopyTo(dequantized, 0);
            quantizer = create(k, n);
            var info = Gptq.Quantize(dequantized, h, quantizer, options);
            summary = string.Create(CultureInfo.InvariantCulture,
                $"gptq {LayerError.Relative(h, w, dequantized, k, n):E3}, {summary}{(info.DampUsed > options.Damp ? $", damp raised to {info.DampUsed}" : "")}");
        }
        string bias = _biasCorrection ? TeacherLayers.CorrectBias(layer, w, dequantized, mean) : "";
        result.Note($"'{name}': relative layer output error on calibration data: {summary}{bias}");
        return (layer, quantizer);
    }
}
