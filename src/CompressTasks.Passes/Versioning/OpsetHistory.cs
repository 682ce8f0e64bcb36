namespace CompressTasks.Passes.Versioning;

/// <summary>
/// The version history of every default-domain operator up to opset 21 (from the ONNX operator changelog), each
/// change classified by hand:
/// <list type="bullet">
/// <item><c>N</c>: the op changed at opset N only in ways that leave an older node valid with the same meaning
/// (new types, negative axes, new attributes or optional inputs whose defaults are the old behaviour);</item>
/// <item><c>N:adapter</c>: the node must be rewritten by the named <see cref="OpsetAdapters"/> entry;</item>
/// <item><c>N!</c>: a change no adapter covers: a model crossing it is refused as a whole.</item>
/// </list>
/// An op missing from the table (an experimental op removed at opset 10, a misspelt op) is refused too.
/// </summary>
internal static class OpsetHistory
{
    /// <summary>The newest opset the table knows.</summary>
    public const int Newest = 21;

    private static readonly string[] Table =
    [
        "Abs 1 6:consumed 13", "Acos 7", "Acosh 9", "Add 1 6:consumed 7:broadcast 13 14", "And 1 7:broadcast",
        "ArgMax 1 11 12 13", "ArgMin 1 11 12 13", "Asin 7", "Asinh 9", "Atan 7", "Atanh 9", "AveragePool 1 7 10 11 19",
        "BatchNormalization 1 6:consumed 7:batchnorm-7 9:batchnorm-9 14:batchnorm-14 15", "Bernoulli 15", "BitShift 11",
        "BlackmanWindow 17", "Cast 1 6:cast-6 9 13 19 21", "CastLike 15 19 21", "Ceil 1 6:consumed 13", "Celu 12",
        "Clip 1 6:consumed 11:clip-11 12 13", "Compress 9 11", "Concat 1 4:concat-4 11 13", "ConcatFromSequence 11",
        "Constant 1 9 11 12 13 19 21", "ConstantOfShape 9 20 21", "Conv 1 11", "ConvInteger 10", "ConvTranspose 1 11:conv-transpose-11",
        "Cos 7", "Cosh 9", "CumSum 11 14", "DFT 17 20!", "DepthToSpace 1 11 13", "DequantizeLinear 10 13 19 21", "Det 11",
        "Div 1 6:consumed 7:broadcast 13 14", "Dropout 1 6:consumed 7:dropout-7 10:dropout-10 12:dropout-12 13",
        "DynamicQuantizeLinear 11", "Einsum 12", "Elu 1 6:consumed", "Equal 1 7:broadcast 11 13 19", "Erf 9 13",
        "Exp 1 6:consumed 13", "Expand 8 13", "EyeLike 9", "Flatten 1 9 11 13 21", "Floor 1 6:consumed 13",
        "GRU 1 3 7:rnn-7 14", "Gather 1 11 13", "GatherElements 11 13", "GatherND 11 12 13", "Gemm 1 6:consumed 7:gemm-7 9 11 13",
        "GlobalAveragePool 1", "GlobalLpPool 1 2!", "GlobalMaxPool 1", "Greater 1 7:broadcast 9 13", "GreaterOrEqual 12 16",
        "GridSample 16 20:grid-sample-20", "HammingWindow 17", "HannWindow 17", "HardSigmoid 1 6:consumed", "HardSwish 14",
        "Hardmax 1 11 13:softmax-13", "Identity 1 13 14 16 19 21", "If 1 11 13 16 19 21", "InstanceNormalization 1 6:consumed",
        "IsInf 10 20", "IsNaN 9 13 20", "LRN 1 13", "LSTM 1 7:rnn-7 14", "LayerNormalization 17", "LeakyRelu 1 6:consumed 16",
        "Less 1 7:broadcast 9 13", "LessOrEqual 12 16", "Log 1 6:consumed 13", "LogSoftmax 1 11 13:softmax-13",
        "Loop 1 11 13 16 19 21", "LpNormalization 1", "LpPool 1 2! 11 18", "MatMul 1 9 13", "MatMulInteger 10",
        "Max 1 6:consumed 8 12 13", "MaxPool 1 8 10 11 12", "MaxRoiPool 1", "MaxUnpool 9 11", "Mean 1 6:consumed 8 13",
        "MeanVarianceNormalization 9 13", "MelWeightMatrix 17", "Min 1 6:consumed 8 12 13", "Mod 10 13",
        "Mul 1 6:consumed 7:broadcast 13 14", "Multinomial 7", "Neg 1 6:consumed 13", "NegativeLogLikelihoodLoss 12 13",
        "NonMaxSuppression 10 11", "NonZero 9 13", "Not 1", "OneHot 9 11", "Optional 15", "OptionalGetElement 15 18",
        "OptionalHasElement 15 18", "Or 1 7:broadcast", "PRelu 1 6:consumed 7 9 16", "Pad 1 2:pad-2 11:pad-11 13 18 19 21",
        "Pow 1 7:broadcast 12 13 15", "QLinearConv 10", "QLinearMatMul 10 21", "QuantizeLinear 10 13 19 21", "RNN 1 7:rnn-7 14",
        "RandomNormal 1", "RandomNormalLike 1", "RandomUniform 1", "RandomUniformLike 1", "Range 11",
        "Reciprocal 1 6:consumed 13", "ReduceL1 1 11 13 18:axes-18", "ReduceL2 1 11 13 18:axes-18", "ReduceLogSum 1 11 13 18:axes-18",
        "ReduceLogSumExp 1 11 13 18:axes-18", "ReduceMax 1 11 12 13 18:axes-18 20", "ReduceMean 1 11 13 18:axes-18", "ReduceMin 1 11 12 13 18:axes-18 20",
        "ReduceProd 1 11 13 18:axes-18", "ReduceSum 1 11 13:axes-13", "ReduceSumSquare 1 11 13 18:axes-18", "Relu 1 6:consumed 13 14",
        "Reshape 1 5:reshape-5 13 14 19 21", "Resize 10 11:resize-11 13 18 19", "ReverseSequence 10", "RoiAlign 10 16:roi-align-16",
        "Round 11", "STFT 17", "Scan 8 9! 11 16 19 21", "Scatter 9 11:scatter-11", "ScatterElements 11 13 16 18", "ScatterND 11 13 16 18",
        "Selu 1 6:consumed", "SequenceAt 11", "SequenceConstruct 11", "SequenceEmpty 11", "SequenceErase 11",
        "SequenceInsert 11", "SequenceLength 11", "SequenceMap 17", "Shape 1 13 15 19 21", "Shrink 9", "Sigmoid 1 6:consumed 13",
        "Sign 9 13", "Sin 7", "Sinh 9", "Size 1 13 19 21", "Slice 1 10:slice-10 11 13", "Softmax 1 11 13:softmax-13",
        "SoftmaxCrossEntropyLoss 12 13", "Softplus 1", "Softsign 1", "SpaceToDepth 1 13", "Split 1 2:split-2 11 13:split-13 18:split-18",
        "SplitToSequence 11", "Sqrt 1 6:consumed 13", "Squeeze 1 11 13:axes-13 21", "StringNormalizer 10",
        "Sub 1 6:consumed 7:broadcast 13 14", "Sum 1 6:consumed 8 13", "Tan 7", "Tanh 1 6:consumed 13", "TfIdfVectorizer 9",
        "ThresholdedRelu 10", "Tile 1 6! 13", "TopK 1 10:topk-10 11", "Transpose 1 13 21", "Trilu 14", "Unique 11",
        "Unsqueeze 1 11 13:axes-13 21", "Upsample 1 7! 9:upsample-9 10:upsample-10", "Where 9 16", "Xor 1 7:broadcast",
        // Ops new from opset 18 on (a model at 18 or later may hold them).
        "AffineGrid 20", "BitwiseAnd 18", "BitwiseNot 18", "BitwiseOr 18", "BitwiseXor 18", "CenterCropPad 18", "Col2Im 18",
        "DeformConv 19", "Gelu 20", "GroupNormalization 18 21!", "ImageDecoder 20", "Mish 18", "RegexFullMatch 20",
        "StringConcat 20", "StringSplit 20",
    ];

    /// <summary>One version step of an op: the opset it came with, and what an older node needs to cross it.</summary>
    /// <param name="Version">The opset the new version of the op came with.</param>
    /// <param name="Adapter">The adapter to apply; null when the change is compatible or not covered.</param>
    /// <param name="Covered">False for a change no adapter handles.</param>
    public sealed record Step(int Version, OpsetAdapter? Adapter, bool Covered);

    private static readonly Dictionary<string, Step[]> Ops = Parse();

    /// <summary>The op's version steps, oldest first; null for an op the table does not know.</summary>
    public static IReadOnlyList<Step>? Steps(string opType) => Ops.GetValueOrDefault(opType);

    private static Dictionary<string, Step[]> Parse()
    {
        var ops = new Dictionary<string, Step[]>(StringComparer.Ordinal);
        foreach (var line in Table)
        {
            var parts = line.Split(' ');
            var steps = new Step[parts.Length - 1];
            for (int i = 1; i < parts.Length; i++)
            {
                var entry = parts[i];
                if (entry.EndsWith('!')) steps[i - 1] = new Step(int.Parse(entry[..^1]), null, false);
                else if (entry.IndexOf(':') is var colon and > 0)
                    steps[i - 1] = new Step(int.Parse(entry[..colon]), OpsetAdapters.Get(entry[(colon + 1)..]), true);
                else steps[i - 1] = new Step(int.Parse(entry), null, true);
            }
            ops.Add(parts[0], steps);
        }
        return ops;
    }
}
