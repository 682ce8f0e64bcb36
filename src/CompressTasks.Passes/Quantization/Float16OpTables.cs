namespace CompressTasks.Passes.Quantization;

/// <summary>
/// What convert-fp16 needs to know about ops, as data. Measured against ONNX Runtime 1.31's CPU provider with
/// one-node float16 models (tests/…/Float16KernelProbe.cs): every common op loads and runs in float16 on the CPU,
/// but only data-movement ops (Reshape, Transpose, Concat, Slice, Gather, Split, Squeeze, Unsqueeze, Expand, Clip,
/// Cast, Identity, Shape, Max/Min, LayerNormalization) have float16 CPU kernels; for the rest (Conv, MatMul, Gemm,
/// Add, Relu, pooling, Softmax, BatchNormalization, LSTM…) ONNX Runtime wraps the node in Casts to float32 and back
/// by itself. So on the CPU a float16 model computes in float32 with extra casts (slower, see the benchmark); the
/// float16 kernels that make it fast are the GPU providers'. Blocking every op without a CPU kernel would make the
/// pass identical to convert-weights-fp16, so the default list holds only the ops that cannot work or lose accuracy.
/// </summary>
internal static class Float16OpTables
{
    /// <summary>
    /// The default op-block-list: ops left in float32, with Casts around them.
    /// Not float16 by their schema (ONNX Runtime refuses the model): Celu, Range, NonMaxSuppression, and the
    /// quantization ops whose scales are float32 only up to opset 18.
    /// Numerically sensitive: Resize and Upsample (sampling coordinates computed in the tensor type), TopK (near
    /// ties reorder, and indices feed later gathers), CumSum, ReduceProd, ReduceSumSquare, ReduceL2 and
    /// ReduceLogSumExp (long accumulations and squares overflow at 65504), RoiAlign (box coordinates), Pow
    /// (squares of activations above 256 overflow), and the random generators (their distribution parameters).
    /// </summary>
    public static readonly string[] DefaultBlockList =
    [
        "Celu", "Range", "NonMaxSuppression", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
        "QLinearMatMul", "MatMulInteger", "ConvInteger", "Resize", "Upsample", "TopK", "CumSum", "ReduceProd", "ReduceSumSquare",
        "ReduceL2", "ReduceLogSumExp", "RoiAlign", "Pow", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
        "Multinomial", "Bernoulli",
    ];

    /// <summary>Inputs whose type constraint is float32 (or separate from the data type) even when the op runs in float16.</summary>
    public static bool IsFloat32Only(string opType, int input) => (opType, input) switch
    {
        ("Resize", 1 or 2) => true,   // roi and scales
        ("Upsample", 1) => true,      // scales
        _ => false,
    };

    /// <summary>Ops whose attribute fixes a float32 output type (converted by pointing it at float16 instead).</summary>
    public static readonly string[] DataTypeAttributeOps = ["Cast", "EyeLike", "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli"];
}
