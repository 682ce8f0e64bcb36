using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using Google.Protobuf;
using TensorValue = CompressTasks.Runtime.TensorValue;

/// <summary>
/// <c>quantize</c>: per model and quantization pass (after the <c>optimize</c> passes, as the presets run them): file
/// size ratio, median ORT CPU latency ratio against the float32 original (same session options: ORT_ENABLE_ALL,
/// one intra-op thread, same inputs), top-1 on mnist-mlp's labelled test images (cosine to the original's output
/// elsewhere), and the pass's own run time in MB/s of float32 weights in the model.
/// </summary>
internal static class QuantizeBenchmark
{
    private static readonly string[] Optimize = ["lift-constants", "fold-constants", "eliminate-identity", "eliminate-dead", "fuse-conv-bn", "fuse-matmul-add", "dedupe-initializers"];

    private static readonly (string Label, string Pass, (string, object)[] Arguments)[] Variants =
    [
        ("int8 weights", "quantize-weights-int8", []),
        ("dynamic int8", "quantize-dynamic", []),
        ("dynamic +Conv", "quantize-dynamic", [("op-types", new[] { "MatMul", "Gemm", "Conv" })]),
        ("int4 B32", "quantize-int4", []),
        ("int4 B32 acc4", "quantize-int4", [("accuracy-level", 4)]),
        ("int4 B128", "quantize-int4", [("block-size", 128)]),
    ];

    public static int Run(string[] args)
    {
        int runs = 20;
        string? only = null;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--runs") runs = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
            else if (args[i] == "--model") only = args[i + 1];
        }
        var temp = Directory.CreateTempSubdirectory("ct-bench-quant-").FullName;
        try
        {
            Console.WriteLine($"quantize: median of {runs} inferences after 3 warm-ups; ORT_ENABLE_ALL, 1 intra-op thread; {Environment.ProcessorCount} cores");
            Console.WriteLine($"{"model",-22} {"variant",-14} {"size KB",9} {"size ×",7} {"infer ms",9} {"latency ×",10} {"accuracy",22} {"pass ms",8} {"pass MB/s",10}");
            foreach (var (name, bytes, shapes) in Models())
            {
                if (only is not null && !name.StartsWith(only, StringComparison.Ordinal)) continue;
                var original = Path.Combine(temp, "original.onnx");
                File.WriteAllBytes(original, bytes);
                var feed = Feed(original, shapes);
                double baseLatency = Latency(original, feed, runs);
                var baseOutput = Output(original, feed);
                long baseSize = new FileInfo(original).Length;
                Console.WriteLine($"{name,-22} {"fp32",-14} {baseSize / 1024.0,9:F0} {1.0,7:F2} {baseLatency,9:F3} {1.0,10:F2} {Accuracy(name, original, baseOutput, baseOutput),22} {"",8} {"",10}");
                foreach (var (label, pass, arguments) in Variants)
                {
                    var file = Path.Combine(temp, "variant.onnx");
                    // The pass alone, median of three runs on fresh copies (the first also pays for JIT).
                    var passTimes = new List<double>();
                    double weightMB = 0;
                    for (int attempt = 0; attempt < 3; attempt++)
                    {
                        using var model = OnnxModel.Parse(bytes);
                        PassManager.Run(model, [.. Optimize.Select(p => new PassStep(PassRegistry.Get(p), new PassArguments(PassRegistry.Get(p).Descriptor)))], rounds: 4);
                        weightMB = FloatWeightBytes(model) / 1e6;
                        var step = PassRegistry.Get(pass);
                        passTimes.Add(PassManager.Run(model, [new PassStep(step, new PassArguments(step.Descriptor, arguments.Select(a => new KeyValuePair<string, object>(a.Item1, a.Item2))))])[0].Milliseconds);
                        if (attempt == 0) model.Save(file);
                    }
                    passTimes.Sort();
                    double passMs = passTimes[1];
                    double latency = Latency(file, feed, runs);
                    long size = new FileInfo(file).Length;
                    Console.WriteLine($"{name,-22} {label,-14} {size / 1024.0,9:F0} {(double)baseSize / size,7:F2} {latency,9:F3} {baseLatency / latency,10:F2} {Accuracy(name, file, baseOutput, Output(file, feed)),22} {passMs,8:F1} {weightMB / (passMs / 1e3),10:F0}");
                }
            }
            Console.WriteLine("size × and latency ×: original over variant (above 1: smaller, faster; below 1: larger, SLOWER)");
            return 0;
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    private static IEnumerable<(string Name, byte[] Bytes, Dictionary<string, long[]>? Shapes)> Models()
    {
        yield return ("mnist-mlp", File.ReadAllBytes(TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx")), new() { ["input"] = [1, 784] });
        yield return ("wakeword-hello", File.ReadAllBytes(TestPaths.SharedModel("wakeword-hello/hello_deepa.onnx")), null);
        yield return ("mlp-4096 batch 1", LargeMlp(), new() { ["x"] = [1, 4096] });
        yield return ("mlp-4096 batch 32", LargeMlp(), new() { ["x"] = [32, 4096] });
        // The CNNs at opset 13 (a recipe's `opset: 13`): below 11 there is no DynamicQuantizeLinear.
        yield return ("ppocr-cls (opset 13)", At13(TestPaths.SharedModel("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx")), new() { ["x"] = [1, 3, 48, 192] });
        yield return ("resnet18 (opset 13)", At13(TestPaths.ResNet18), null);
    }

    private static byte[] At13(string path)
    {
        using var model = OnnxModel.Load(path);
        var convert = PassRegistry.Get("convert-opset");
        PassManager.Run(model, [new PassStep(convert, new PassArguments(convert.Descriptor, [new("target-opset", 13)]))]);
        return model.Proto.ToByteArray();
    }

    // x [M, 4096] ─MatMul(W1 4096×4096)─ Relu ─MatMul(W2 4096×4096)─▶ y: 128 MB of float32 weights, opset 13, seeded.
    private static byte[] LargeMlp()
    {
        const int D = 4096;
        var model = new ModelProto { IrVersion = 8, ProducerName = "bench", Graph = new GraphProto { Name = "mlp" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var graph = model.Graph;
        graph.Input.Add(Value("x", D));
        graph.Output.Add(Value("y", D));
        var random = new Random(42);
        foreach (var name in new[] { "W1", "W2" })
        {
            var values = new float[D * D];
            for (int i = 0; i < values.Length; i++) values[i] = (random.NextSingle() - 0.5f) * 0.05f;
            var tensor = new TensorProto { Name = name, DataType = 1, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
            tensor.Dims.Add([D, D]);
            graph.Initializer.Add(tensor);
        }
        graph.Node.Add(Node("MatMul", ["x", "W1"], "h"));
        graph.Node.Add(Node("Relu", ["h"], "r"));
        graph.Node.Add(Node("MatMul", ["r", "W2"], "y"));
        return model.ToByteArray();

        static NodeProto Node(string op, string[] inputs, string output)
        {
            var node = new NodeProto { OpType = op, Name = op + "_" + output };
            node.Input.Add(inputs);
            node.Output.Add(output);
            return node;
        }

        static ValueInfoProto Value(string name, long last)
        {
            var shape = new TensorShapeProto();
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "M" });
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = last });
            return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
        }
    }

    private static long FloatWeightBytes(OnnxModel model)
    {
        long total = 0;
        foreach (var graph in CompressTasks.Graphs.Graph.Open(model).SelfAndDescendants())
            foreach (var t in graph.Initializers)
                if (t.DataType == 1) total += TensorData.ElementCount(t) * 4;
        return total;
    }

    private static Dictionary<string, TensorValue> Feed(string file, Dictionary<string, long[]>? shapes)
    {
        using var session = ModelSession.Open(file);
        return InputGenerator.Generate(session.Inputs, shapes, seed: 1);
    }

    private static double Latency(string file, Dictionary<string, TensorValue> feed, int runs)
    {
        using var session = ModelSession.Open(file, new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 });
        return CompressTasks.Verification.LatencyMeter.Measure(session, feed, warmup: 3, runs: runs).MedianMs;
    }

    private static float[] Output(string file, Dictionary<string, TensorValue> feed)
    {
        using var session = ModelSession.Open(file, new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 });
        return session.Run(feed)[0].ToFloats();
    }

    // mnist-mlp: top-1 on its 1,000 labelled test images; other models: the first output's cosine to the original's
    // (meaningless for wakeword-hello's single score) and its largest difference relative to the original's largest value.
    private static string Accuracy(string name, string file, float[] expected, float[] actual)
    {
        if (name != "mnist-mlp")
        {
            var difference = new float[expected.Length];
            TensorPrimitives.Subtract(expected, actual, difference);
            double relative = Math.Abs(TensorPrimitives.MaxMagnitude(difference)) / Math.Abs(TensorPrimitives.MaxMagnitude(expected));
            return $"cos {TensorPrimitives.CosineSimilarity(expected, actual):F4} Δ {relative:P2}";
        }
        var data = Path.Combine(Path.GetDirectoryName(TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx"))!, "data");
        var labels = FeedLoader.LoadLabels(Path.Combine(data, "test_labels.npy"));
        using var session = ModelSession.Open(file, new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 });
        int correct = 0, row = 0;
        foreach (var feed in FeedLoader.Load(Path.Combine(data, "test_images.npy"), session.Inputs, maxRows: labels.Length, batchSize: 100))
        {
            var logits = session.Run(feed)[0];
            int classes = (int)logits.Shape[^1];
            var values = logits.ToFloats();
            for (int r = 0; r < values.Length / classes; r++, row++)
                if (TensorPrimitives.IndexOfMax(values.AsSpan(r * classes, classes)) == labels[row]) correct++;
        }
        return $"top-1 {100.0 * correct / row:F1}%";
    }
}
