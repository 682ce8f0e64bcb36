using System.Globalization;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Quantization;

/// <summary>One weight in its stored form: codes in the weight's own layout, and per-channel scales and zero points.</summary>
internal sealed record QuantizedWeight(byte[] Values, float[] Scales, byte[] ZeroPoints, int ElementType);

/// <summary>
/// The teacher-guided branch of per-channel weight quantization: <c>method: gptq</c> (error compensation through
/// the teacher's input statistics, <see cref="Gptq"/>) and <c>bias-correction</c> (the expected output shift moved
/// into the layer's bias, <see cref="BiasCorrection"/>), for weights read only as input 1 of MatMul or Gemm in the
/// main graph.
/// </summary>
/// <remarks>
/// <code>
///   MatMul(x, W [K, N])            statistics of x over its last axis
///   Gemm(A, B, C, transA, transB)  statistics of A (columns when transA = 1); B [N, K] is transposed when transB = 1
///   bias: Gemm's C [N] (C += α/β · shift), or the constant [N] of the one Add reading the MatMul's output
/// </code>
/// Several readers of one weight add their H (the error summed over all readers is minimised); bias correction
/// needs a single reader. A weight it cannot handle (Conv: no im2col statistics yet; per-tensor scales; a reader
/// inside a subgraph; an input the original model does not have) is rounded to nearest, with a note saying why.
/// The notes also give each layer's relative output error tr(ΔᵀHΔ)/tr(WᵀHW) on the calibration data.
/// </remarks>
internal sealed class WeightReconstruction
{
    private readonly TeacherStatistics _teacher;
    private readonly GptqOptions? _gptq;
    private readonly bool _biasCorrection;
    private IReadOnlyDictionary<StatisticsRequest, LayerStatistics> _statistics = new Dictionary<StatisticsRequest, LayerStatistics>();

    private WeightReconstruction(TeacherStatistics teacher, GptqOptions? gptq, bool biasCorrection)
    {
        _teacher = teacher;
        _gptq = gptq;
        _biasCorrection = biasCorrection;
    }

    /// <summary>The parameters this branch adds to a quantization pass.</summary>
    public static ParameterSpec[] Parameters { get; } =
    [
        ParameterSpec.Enum("method", "rtn", ["rtn", "gptq"], "rtn: round to nearest; gptq: compensate rounding errors through the teacher's input statistics (needs calibration data)."),
        ParameterSpec.Int("block-size", 128, "gptq: rows quantized between lazy updates of the rest of the weight.", minimum: 1),
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
        var options = gptq ? new GptqOptions(arguments.GetInt("block-size"), arguments.GetDouble("damp"), arguments.GetBool("act-order")) : null;
        return new WeightReconstruction(teacher, options, bias);
    }

    /// <summary>Collects, in one run of the teacher, the statistics of every reader of <paramref name="weights"/>.</summary>
    public void Collect(IEnumerable<Constant> weights)
    {
        var requests = weights.SelectMany(w => Readers(w, out _) ?? []).Select(r => r.Request).Distinct().ToList();
        if (requests.Count > 0) _statistics = _teacher.Collect(requests);
    }

    /// <summary>
    /// Quantizes <paramref name="constant"/> (8 bits, per channel on <paramref name="axis"/>) from the statistics and
    /// corrects its bias; null (with a note) when it must be rounded to nearest instead.
    /// </summary>
    public QuantizedWeight? Quantize(Constant constant, int axis, bool symmetric, PassResult result)
    {
        string name = constant.Name;
        var readers = Readers(constant, out string? reason);
        if (readers is null || axis < 0 || constant.Dims.Count != 2)
        {
            result.Note($"'{name}': {reason ?? "per-channel scales over a 2-D weight are needed"}; rounded to nearest without reconstruction");
            return null;
        }
        bool transposed = readers[0].TransB;
        int k = (int)constant.Dims[transposed ? 1 : 0], n = (int)constant.Dims[transposed ? 0 : 1];
        var h = new double[(long)k * k];
        var mean = new double[k];
        foreach (var (_, request, _) in readers)
        {
            if (!_statistics.TryGetValue(request, out var s) || s.Features != k)
            {
                string why = _teacher.Problems.TryGetValue(request, out var p) ? p : $"no statistics with {k} features for '{request.Value}'";
                result.Note($"'{name}': {why}; rounded to nearest without reconstruction");
                return null;
            }
            for (int i = 0; i < h.Length; i++) h[i] += s.SecondMoment[i];
            mean = s.Mean();
        }

        var w = ToRowsByInput(constant.AsFloat(), k, n, transposed);
        var quantizer = new LinearWeightQuantizer(k, n, 8, symmetric);
        var dequantized = new float[w.Length];
        quantizer.QuantizeNearest(w, dequantized);
        double nearest = LayerError.Relative(h, w, dequantized, k, n);
        string summary = string.Create(CultureInfo.InvariantCulture, $"round to nearest {nearest:E3}");
        if (_gptq is { } options)
        {
            w.CopyTo(dequantized, 0);
            quantizer = new LinearWeightQuantizer(k, n, 8, symmetric);
            var info = Gptq.Quantize(dequantized, h, quantizer, options);
            summary = string.Create(CultureInfo.InvariantCulture,
                $"gptq {LayerError.Relative(h, w, dequantized, k, n):E3}, {summary}{(info.DampUsed > options.Damp ? $", damp raised to {info.DampUsed}" : "")}");
        }
        string bias = _biasCorrection ? CorrectBias(readers, w, dequantized, k, n, mean) : "";
        result.Note($"'{name}': relative layer output error on calibration data: {summary}{bias}");

        var codes = transposed ? Transpose(quantizer.Codes, k, n) : quantizer.Codes;
        int elementType = (int)(symmetric ? TensorProto.Types.DataType.Int8 : TensorProto.Types.DataType.Uint8);
        return new QuantizedWeight(codes, quantizer.Scales, quantizer.ZeroPoints, elementType);
    }

    private string CorrectBias(List<(Node Node, StatisticsRequest Request, bool TransB)> readers, float[] w, float[] dequantized, int k, int n, double[] mean)
    {
        if (readers.Count != 1) return "; bias not corrected (several readers)";
        var node = readers[0].Node;
        var graph = node.Graph!;
        Constant? bias = null;
        float factor = 1;
        if (node.Is("Gemm") && node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
        {
            float beta = node.GetFloat("beta", 1);
            factor = beta == 0 ? 0 : node.GetFloat("alpha", 1) / beta;
            bias = graph.TryGetConstant(node.Inputs[2]);
        }
        else if (node.Is("MatMul") && !graph.MustKeepName(node.Outputs[0]) && graph.GetConsumers(node.Outputs[0]) is [{ Node: var add, Index: var at }] && add.Is("Add"))
        {
            bias = graph.TryGetConstant(add.Inputs[1 - at]);
        }
        if (bias is null || factor == 0 || bias.DataType != 1 || bias.ElementCount != n || bias.UseCount != 1 || bias.Dims.Any(d => d != 1 && d != n))
            return "; bias not corrected (no float32 bias of its own with one value per output)";
        var shift = new float[n];
        BiasCorrection.OutputShift(w, dequantized, k, n, mean, shift);
        var corrected = bias.AsFloat().ToArray();
        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(shift, factor, corrected, corrected);
        bias.Replace(1, bias.Dims.ToArray(), MemoryMarshal.AsBytes(corrected.AsSpan()).ToArray());
        return $"; bias '{bias.Name}' corrected";
    }

    // The readers of a weight and the statistics each needs; null (with a reason) when reconstruction cannot apply.
    private static List<(Node Node, StatisticsRequest Request, bool TransB)>? Readers(Constant constant, out string? reason)
    {
        reason = null;
        var graph = constant.Graph;
        var readers = new List<(Node, StatisticsRequest, bool)>();
        foreach (var (node, index) in graph.GetConsumers(constant.Name))
        {
            bool gemm = node.Is("Gemm");
            if (index != 1 || !(gemm || node.Is("MatMul")) || node.Graph != graph || graph.Parent is not null)
            {
                reason = node.Is("Conv") ? "Conv is not reconstructed yet (no im2col statistics)" : $"{node} reads it in a way reconstruction does not handle";
                return null;
            }
            readers.Add((node, new StatisticsRequest(node.Inputs[0], gemm && node.GetInt("transA", 0) != 0), gemm && node.GetInt("transB", 0) != 0));
        }
        if (readers.Count == 0 || readers.Any(r => r.Item3 != readers[0].Item3))
        {
            reason = "its readers disagree on the weight's layout";
            return null;
        }
        return readers;
    }

    // W as [K, N] (rows = input features): a copy, transposed from [N, K] when Gemm reads it with transB = 1.
    private static float[] ToRowsByInput(ReadOnlySpan<float> values, int k, int n, bool transposed)
    {
        var w = values.ToArray();
        return transposed ? Transpose(w, n, k) : w;
    }

    private static T[] Transpose<T>(T[] source, int rows, int columns)
    {
        var result = new T[source.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++) result[c * rows + r] = source[r * columns + c];
        return result;
    }
}
