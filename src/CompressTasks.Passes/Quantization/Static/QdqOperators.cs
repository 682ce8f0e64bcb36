namespace CompressTasks.Passes.Quantization.Static;

/// <summary>How an operator takes part in a QDQ model, which decides where Q/DQ pairs go around it.</summary>
internal enum QdqRole
{
    /// <summary>Input 0 is an activation, input 1 a constant weight (DQ, int8), input 2 an optional bias (DQ, int32).</summary>
    Weighted,

    /// <summary>Inputs 0 and 1 are activations.</summary>
    Binary,

    /// <summary>Input 0 is an activation; the result needs its own scale.</summary>
    Unary,

    /// <summary>Every input is an activation.</summary>
    Variadic,

    /// <summary>Input 0 is an activation; the output is quantized with input 0's scale and zero point.</summary>
    SharesInput,
}

/// <param name="OpType">Default-domain operator.</param>
/// <param name="Role">Where its Q/DQ go.</param>
/// <param name="MinOpset">Lowest opset at which ONNX Runtime's CPU provider runs it on integers.</param>
/// <param name="Kernel">What ONNX Runtime (1.31, CPU, graph optimizations at Extended or All) turns DQ → op → Q into.</param>
internal sealed record QdqOperator(string OpType, QdqRole Role, int MinOpset, string Kernel);

/// <summary>
/// Which operators <c>quantize-static</c> surrounds with QuantizeLinear/DequantizeLinear: exactly those ONNX
/// Runtime's QDQ transformer (<c>qdq_selector_action_transformer.cc</c>) replaces by an integer kernel on CPU, so
/// the result runs as int8 instead of paying for Q/DQ around float operators.
/// </summary>
/// <remarks>
/// Facts from ONNX Runtime's selectors that shape the table and the pass:
/// <list type="bullet">
/// <item>Conv needs DQ on input, weight and (if present) bias, and Q on its output; the bias must be int32
/// (scale x_scale·w_scale, zero point 0). With int8 activations it fuses only where ONNX Runtime allows int8
/// (not x86 CPUs by default), hence uint8 activations by default.</item>
/// <item>MatMul and Gemm fuse with or without a Q on the output (QLinearMatMul / MatMulIntegerToFloat, QGemm);
/// Gemm's bias must be int32 and beta 1.</item>
/// <item>Reshape, Transpose, Flatten, Squeeze, Unsqueeze, Resize and MaxPool (opset 12+) only move or select
/// values: ONNX Runtime drops the DQ/Q pair around them when both use the same scale and zero point, so their
/// output reuses their input's.</item>
/// <item>Relu and Clip are not listed: a Relu whose output is quantized with zero point = qmin is redundant
/// (QuantizeLinear saturates at 0), and ONNX Runtime removes it and fuses the operator before it.</item>
/// <item>Add and Mul are quantized only when both inputs are activations (residual adds, gating); with a constant
/// input (a bias or scale the fusions could not fold) they stay float rather than quantizing the constant per tensor.</item>
/// <item>MatMul with two activation inputs (attention) is not quantized yet: only weighted MatMuls are.</item>
/// <item>Softmax has a QLinear kernel too but is left float: it usually produces the model's output
/// probabilities, where 8 bits cost the most accuracy and save the least time.</item>
/// </list>
/// </remarks>
internal static class QdqOperators
{
    public static IReadOnlyList<QdqOperator> All { get; } =
    [
        new("Conv", QdqRole.Weighted, 10, "QLinearConv"),
        new("MatMul", QdqRole.Weighted, 10, "QLinearMatMul, or MatMulIntegerToFloat without an output Q"),
        new("Gemm", QdqRole.Weighted, 10, "QGemm (com.microsoft)"),
        new("Add", QdqRole.Binary, 10, "QLinearAdd (com.microsoft)"),
        new("Mul", QdqRole.Binary, 10, "QLinearMul (com.microsoft)"),
        new("AveragePool", QdqRole.Unary, 10, "QLinearAveragePool (com.microsoft)"),
        new("GlobalAveragePool", QdqRole.Unary, 10, "QLinearGlobalAveragePool (com.microsoft)"),
        new("LeakyRelu", QdqRole.Unary, 10, "QLinearLeakyRelu (com.microsoft)"),
        new("Sigmoid", QdqRole.Unary, 10, "QLinearSigmoid (com.microsoft)"),
        new("Concat", QdqRole.Variadic, 10, "QLinearConcat (com.microsoft)"),
        new("MaxPool", QdqRole.SharesInput, 12, "uint8/int8 MaxPool (DQ/Q dropped)"),
        new("Reshape", QdqRole.SharesInput, 10, "Reshape on integers (DQ/Q dropped)"),
        new("Transpose", QdqRole.SharesInput, 10, "Transpose on integers (DQ/Q dropped)"),
        new("Flatten", QdqRole.SharesInput, 10, "Flatten on integers (DQ/Q dropped)"),
        new("Squeeze", QdqRole.SharesInput, 10, "Squeeze on integers (DQ/Q dropped)"),
        new("Unsqueeze", QdqRole.SharesInput, 10, "Unsqueeze on integers (DQ/Q dropped)"),
        new("Resize", QdqRole.SharesInput, 11, "Resize on integers (DQ/Q dropped)"),
    ];

    /// <summary>The op types whose weight is quantized (the WeightSelection candidates).</summary>
    public static IReadOnlyList<string> WeightedTypes { get; } = [.. All.Where(o => o.Role == QdqRole.Weighted).Select(o => o.OpType)];

    /// <summary>The op types quantized on activations only.</summary>
    public static IReadOnlyList<string> ActivationTypes { get; } = [.. All.Where(o => o.Role != QdqRole.Weighted).Select(o => o.OpType)];

    public static QdqOperator? Find(string opType) => All.FirstOrDefault(o => o.OpType == opType);

    /// <summary>The inputs of a node of this role that carry activations to quantize.</summary>
    public static IEnumerable<int> DataInputs(QdqRole role, int inputCount) => role switch
    {
        QdqRole.Binary => [0, 1],
        QdqRole.Variadic => Enumerable.Range(0, inputCount),
        _ => [0],
    };
}
