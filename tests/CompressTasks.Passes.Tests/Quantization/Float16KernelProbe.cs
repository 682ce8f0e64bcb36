using System.Runtime.InteropServices;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Quantization;

/// <summary>
/// Builds one-node float16 models (opset 17) for common ops and asks ONNX Runtime's CPU provider to load and run
/// them: the empirical ground for convert-fp16's default op-block-list. Input specs: <c>h:2,3</c> a float16 graph
/// input, <c>b:2,3</c> a bool graph input, <c>i:1,2</c> an int64 constant with those values, <c>f:1,2</c> a
/// float32 constant, <c>""</c> an omitted optional input.
/// </summary>
internal static class Float16KernelProbe
{
    public sealed record Probe(string Op, string[] Inputs, int[] Outputs, AttributeProto[] Attributes);

    private static Probe P(string op, string[] inputs, params AttributeProto[] attributes) => new(op, inputs, [10], attributes);

    private static Probe P(string op, string[] inputs, int[] outputs, params AttributeProto[] attributes) => new(op, inputs, outputs, attributes);

    private static readonly string[] X = ["h:2,3"], XY = ["h:2,3", "h:2,3"], Image = ["h:1,2,4,4"];

    public static IReadOnlyList<Probe> All { get; } =
    [
        .. new[] { "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Floor", "Ceil", "Erf", "HardSigmoid",
            "HardSwish", "LeakyRelu", "Elu", "Selu", "Celu", "Softplus", "Softsign", "Round", "Sign", "Identity", "Sin", "Cos",
            "Softmax", "LogSoftmax", "Hardmax", "Transpose", "Flatten", "Dropout", "Trilu", "ThresholdedRelu", "Shrink" }.Select(op => P(op, X)),
        .. new[] { "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Mod" }.Select(op => P(op, XY, op == "Mod" ? [Int("fmod", 1)] : [])),
        .. new[] { "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual" }.Select(op => P(op, XY, [9])),
        .. new[] { "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare", "ReduceLogSum" }
            .Select(op => P(op, X, Ints("axes", 1))),
        P("ReduceSum", ["h:2,3", "i:1"]), P("ArgMax", X, [7]), P("Shape", X, [7]), P("IsNaN", X, [9]), P("NonZero", X, [7]),
        P("Where", ["b:2,3", "h:2,3", "h:2,3"]), P("MatMul", ["h:2,3", "h:3,4"]), P("Gemm", ["h:2,3", "h:3,4", "h:4"]),
        P("Conv", ["h:1,2,5,5", "h:3,2,3,3", "h:3"]), P("ConvTranspose", ["h:1,2,5,5", "h:2,3,3,3"]),
        P("BatchNormalization", ["h:1,2,4,4", "h:2", "h:2", "h:2", "h:2"]), P("InstanceNormalization", ["h:1,2,4,4", "h:2", "h:2"]),
        P("LayerNormalization", ["h:2,3", "h:3", "h:3"]), P("MaxPool", Image, Ints("kernel_shape", 2, 2)),
        P("AveragePool", Image, Ints("kernel_shape", 2, 2)), P("GlobalAveragePool", Image), P("GlobalMaxPool", Image),
        P("LpNormalization", X), P("LRN", Image, Int("size", 3)), P("MeanVarianceNormalization", Image),
        P("Reshape", ["h:2,3", "i:3,2"]), P("Squeeze", ["h:2,1,3", "i:1"]), P("Unsqueeze", ["h:2,3", "i:0"]),
        P("Concat", XY, Int("axis", 0)), P("Split", ["h:2,4", "i:2,2"], [10, 10], Int("axis", 1)), P("Slice", ["h:2,3", "i:0", "i:2"]),
        P("Gather", ["h:3,2", "i:0,2"]), P("GatherElements", ["h:2,3", "j:1,0,1"]), P("Expand", ["h:1,3", "i:2,3"]),
        P("Tile", ["h:2,3", "i:2,1"]), P("Pad", ["h:2,3", "i:1,0,1,0"]), P("Pad", ["h:2,3", "i:1,1,1,1"], Str("mode", "reflect")),
        P("Resize", ["h:1,1,2,2", "", "f:1,1,2,2"]), P("Resize", ["h:1,1,2,2", "", "f:1,1,2,2"], Str("mode", "linear")),
        P("Clip", ["h:2,3", "h:", "h:"]), P("Cast", X, [1], Int("to", 1)), P("CastLike", ["h:2,3", "h:1"]),
        P("DepthToSpace", ["h:1,4,2,2"], Int("blocksize", 2)), P("SpaceToDepth", ["h:1,1,4,4"], Int("blocksize", 2)),
        P("TopK", ["h:2,4", "i:2"], [10, 7]), P("CumSum", ["h:2,3", "i:"]), P("Einsum", ["h:2,3", "h:3,4"], Str("equation", "ij,jk->ik")),
        P("Range", ["h:", "h:", "h:"]), P("EyeLike", ["h:3,3"]), P("ScatterElements", ["h:2,3", "j:1,0,1", "h:1,3"]),
        P("LSTM", ["h:2,1,3", "h:1,8,3", "h:1,8,2"], Int("hidden_size", 2)), P("GRU", ["h:2,1,3", "h:1,6,3", "h:1,6,2"], Int("hidden_size", 2)),
        P("RNN", ["h:2,1,3", "h:1,2,3", "h:1,2,2"], Int("hidden_size", 2)),
    ];

    /// <summary>
    /// Null when ONNX Runtime's CPU provider loads and runs the probe in float16; otherwise its error's first line.
    /// <paramref name="castsInserted"/>: how many Casts ONNX Runtime added itself (it wraps float16 nodes of ops
    /// without a float16 CPU kernel in Casts to float32 and back), read from the model it saves after loading.
    /// </summary>
    public static string? Run(Probe probe, out int castsInserted)
    {
        castsInserted = 0;
        var model = new TestModels(opset: 17, irVersion: 8);
        var feeds = new Dictionary<string, TensorValue>();
        var names = new List<string>();
        for (int i = 0; i < probe.Inputs.Length; i++)
        {
            string spec = probe.Inputs[i];
            if (spec.Length == 0) { names.Add(""); continue; }
            string name = $"in{i}";
            names.Add(name);
            long[] numbers = spec.Length > 2 ? spec[2..].Split(',').Select(long.Parse).ToArray() : [];
            switch (spec[0])
            {
                case 'h' or 'b':
                    int type = spec[0] == 'h' ? 10 : 9;
                    model.Graph.Input.Add(ValueInfo(name, numbers, type));
                    long count = numbers.Aggregate(1L, (a, d) => a * d);
                    var data = spec[0] == 'h'
                        ? MemoryMarshal.AsBytes(Enumerable.Range(0, (int)count).Select(k => (Half)(0.25f + k % 3)).ToArray().AsSpan()).ToArray()
                        : Enumerable.Repeat((byte)1, (int)count).ToArray();
                    feeds[name] = new TensorValue(type, numbers, data);
                    break;
                case 'j':
                    var row = new TensorProto { Name = name, DataType = 7, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(numbers.AsSpan())) };
                    row.Dims.Add([1, numbers.Length]);
                    model.Graph.Initializer.Add(row);
                    break;
                case 'i':
                    var ints = new TensorProto { Name = name, DataType = 7, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(numbers.AsSpan())) };
                    if (numbers.Length > 0) ints.Dims.Add(numbers.Length);
                    else ints.RawData = ByteString.CopyFrom(BitConverter.GetBytes(1L));
                    model.Graph.Initializer.Add(ints);
                    break;
                case 'f':
                    model.Graph.Initializer.Add(Tensor(name, [numbers.Length], numbers.Select(n => (float)n).ToArray()));
                    break;
            }
        }
        var outputs = probe.Outputs.Select((_, k) => $"out{k}").ToArray();
        for (int k = 0; k < outputs.Length; k++)
            model.Graph.Output.Add(new ValueInfoProto { Name = outputs[k], Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = probe.Outputs[k] } } });
        model.Node(probe.Op, [.. names], outputs, probe.Attributes);
        try
        {
            using var built = model.Build();
            var optimized = Path.Combine(Path.GetTempPath(), $"ct-probe-{Guid.NewGuid():N}.onnx");
            try
            {
                var options = new RuntimeOptions { Optimization = OptimizationLevel.Disabled, IntraOpThreads = 1, OptimizedModelPath = optimized };
                using (var session = ModelSession.Open(PassHarness.Bytes(built), probe.Op, options)) session.Run(feeds);
                castsInserted = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized)).Graph.Node.Count(n => n.OpType == "Cast") - (probe.Op == "Cast" ? 1 : 0);
            }
            finally
            {
                File.Delete(optimized);
            }
            return null;
        }
        catch (Diagnostics.CompressTasksException e)
        {
            return e.Message.Split('\n')[0];
        }
    }

    private static AttributeProto Str(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };
}
