using System.Globalization;
using System.IO.Compression;
using System.Numerics.Tensors;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using CompressTasks.Verification;
using Google.Protobuf;
using TensorValue = CompressTasks.Runtime.TensorValue;

/// <summary>
/// <c>prune</c>: the accuracy-vs-size curve a user needs to pick a pruning ratio. Per model, each pruning pass alone
/// at several ratios and prune+int8 (the deep-compression preset and variants): file size, gzip size, parameters
/// and FLOPs (Conv/Gemm/MatMul), latency ratio (median, ORT_ENABLE_ALL, one thread), and agreement with the original:
/// top-1 accuracy on mnist-mlp's labelled test set; mean output cosine and top-1 agreement over seeded random inputs
/// for the CNNs (they come without evaluation data). No fine-tuning anywhere.
/// </summary>
internal static class PruneBenchmark
{
    private sealed record Variant(string Name, (string Pass, (string, object)[] Args)[] Steps);

    private static Variant V(string name, params (string, (string, object)[])[] steps) => new(name, steps);

    public static int Run(string[] args)
    {
        int runs = args is ["--runs", var n, ..] ? int.Parse(n, CultureInfo.InvariantCulture) : 7;
        Console.WriteLine($"prune: no fine-tuning; latency median of {runs} runs, ORT_ENABLE_ALL, 1 thread; {Environment.ProcessorCount} cores");
        Mnist(runs);
        foreach (var (name, shapes) in new[]
        {
            ("resnet18", new Dictionary<string, long[]> { ["Input247"] = [1, 3, 224, 224] }),
            ("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx", new() { ["x"] = [1, 3, 48, 192] }),
            ("ppocr-det/ch_PP-OCRv4_det_infer.onnx", new() { ["x"] = [1, 3, 320, 320] }),
        })
            Cnn(name == "resnet18" ? TestPaths.ResNet18 : TestPaths.SharedModel(name), shapes, runs);
        return 0;
    }

    private static void Mnist(int runs)
    {
        var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = Path.Combine(Path.GetDirectoryName(path)!, "data");
        var labels = FeedLoader.LoadLabels(Path.Combine(data, "test_labels.npy"));
        var images = Path.Combine(data, "test_images.npy");
        var variants = new List<Variant> { V("original") };
        foreach (var s in new[] { 0.5, 0.7, 0.8, 0.9, 0.95 })
            variants.Add(V($"magnitude {s:P0} global", ("prune-magnitude", [("sparsity", s), ("scope", "global")])));
        foreach (var s in new[] { 0.8, 0.9 })
            variants.Add(V($"magnitude {s:P0} layer", ("prune-magnitude", [("sparsity", s)])));
        variants.Add(V("magnitude 2:4", ("prune-magnitude", [("pattern", "2:4")])));
        foreach (var r in new[] { 0.1, 0.25, 0.5, 0.75 })
            variants.Add(V($"channels {r:P0}", ("prune-channels", [("ratio", r)])));
        variants.Add(V("int8", ("quantize-weights-int8", [])));
        variants.Add(V("deep-compression preset", Preset("deep-compression")));
        foreach (var s in new[] { 0.7, 0.8, 0.9 })
            variants.Add(V($"magnitude {s:P0} global + int8", ("prune-magnitude", [("sparsity", s), ("scope", "global"), ("storage", "dense")]), ("quantize-weights-int8", [])));
        variants.Add(V("clip σ=3 + int8", ("clip-weights", [("method", "sigma")]), ("quantize-weights-int8", [])));
        variants.Add(V("channels 25% + int8", ("prune-channels", [("ratio", 0.25)]), ("quantize-weights-int8", [])));

        Console.WriteLine();
        Console.WriteLine("mnist-mlp (top-1 on its 1,000 held-out test images)");
        Console.WriteLine($"{"variant",-34} {"size KB",8} {"gzip KB",8} {"params",9} {"top-1",7} {"latency",8}");
        var original = File.ReadAllBytes(path);
        var feed = Feed(original, new() { ["input"] = [1, 784] });
        Latency(original, feed, runs); // the first session of the process pays for ORT's start-up
        double baseLatency = Latency(original, feed, runs);
        foreach (var v in variants)
        {
            var bytes = Apply(path, v);
            var cost = ModelCost.Compute(ModelProto.Parser.ParseFrom(bytes), feed);
            Console.WriteLine($"{v.Name,-34} {bytes.Length / 1024.0,8:F0} {Gzip(bytes) / 1024.0,8:F0} {cost.Parameters,9:N0} {Top1(bytes, images, labels),7:P1} {Latency(bytes, feed, runs) / baseLatency,7:F2}×");
        }
    }

    private static void Cnn(string path, Dictionary<string, long[]> shapes, int runs)
    {
        var variants = new List<Variant> { V("original") };
        foreach (var r in new[] { 0.1, 0.25, 0.5 })
            variants.Add(V($"channels {r:P0} l1", ("prune-channels", [("ratio", r)])));
        variants.Add(V("channels 25% bn-gamma", ("prune-channels", [("ratio", 0.25), ("criterion", "bn-gamma")])));
        foreach (var r in new[] { 0.1, 0.25 })
            variants.Add(V($"channels {r:P0} l1, not coupled", ("prune-channels", [("ratio", r), ("prune-coupled", false)])));
        foreach (var s in new[] { 0.5, 0.8, 0.9 })
            variants.Add(V($"magnitude {s:P0} global", ("prune-magnitude", [("sparsity", s), ("scope", "global"), ("min-elements", 256)])));
        // ResNet-18 (opset 8) and ppocr-cls (opset 9) predate per-channel DequantizeLinear: the int8 rows upgrade to
        // opset 13 first, as a recipe's `opset: 13` does (a model already there is left alone).
        (string, (string, object)[]) upgrade = ("convert-opset", [("target-opset", 13)]);
        variants.Add(V("int8", upgrade, ("quantize-weights-int8", [])));
        variants.Add(V("magnitude 50% + int8", upgrade, ("prune-magnitude", [("sparsity", 0.5), ("scope", "global"), ("storage", "dense")]), ("quantize-weights-int8", [])));
        variants.Add(V("channels 25% + int8", upgrade, ("prune-channels", [("ratio", 0.25)]), ("quantize-weights-int8", [])));

        var original = File.ReadAllBytes(path);
        var feed = Feed(original, shapes);
        var baseCost = ModelCost.Compute(ModelProto.Parser.ParseFrom(original), feed);
        double baseLatency = Latency(original, feed, runs);
        Console.WriteLine();
        Console.WriteLine($"{Path.GetFileName(path)} (input {string.Join("×", shapes.Values.First())}; cosine and top-1 agreement over 8 random inputs)");
        Console.WriteLine($"{"variant",-34} {"size KB",8} {"gzip KB",8} {"params",7} {"FLOPs",7} {"cosine",7} {"top-1",6} {"latency",8}");
        foreach (var v in variants)
        {
            var bytes = Apply(path, v);
            var cost = ModelCost.Compute(ModelProto.Parser.ParseFrom(bytes), feed);
            var (cosine, top1) = Agreement(original, bytes, shapes, 8);
            Console.WriteLine($"{v.Name,-34} {bytes.Length / 1024.0,8:F0} {Gzip(bytes) / 1024.0,8:F0} {(double)cost.Parameters / baseCost.Parameters,7:P0} "
                + $"{(double)cost.Flops / baseCost.Flops,7:P0} {cosine,7:F4} {top1,6:P0} {Latency(bytes, feed, runs) / baseLatency,7:F2}×");
        }
    }

    private static (string, (string, object)[])[] Preset(string name)
    {
        var recipe = new RecipeLoader(PassRegistry.Catalog).Parse($"extends: {name}\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();
        return [.. recipe.Passes.Select(p => (p.Name, p.Arguments.Explicit.Select(kv => (kv.Key, kv.Value)).ToArray()))];
    }

    private static byte[] Apply(string path, Variant v)
    {
        using var model = OnnxModel.Load(path);
        var steps = v.Steps.Select(s => new PassStep(PassRegistry.Get(s.Pass),
            new PassArguments(PassRegistry.Get(s.Pass).Descriptor, s.Args.Select(a => new KeyValuePair<string, object>(a.Item1, a.Item2))))).ToList();
        PassManager.Run(model, steps, rounds: 1);
        return model.Proto.ToByteArray();
    }

    private static Dictionary<string, TensorValue> Feed(byte[] model, Dictionary<string, long[]> shapes)
    {
        using var session = ModelSession.Open(model, "inputs");
        return InputGenerator.Generate(session.Inputs, shapes, seed: 0);
    }

    private static double Latency(byte[] model, Dictionary<string, TensorValue> feed, int runs)
    {
        using var session = ModelSession.Open(model, "latency", new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 });
        return LatencyMeter.Measure(session, feed, warmup: 2, runs: runs).MedianMs;
    }

    private static long Gzip(byte[] bytes)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true)) gzip.Write(bytes);
        return buffer.Length;
    }

    private static double Top1(byte[] model, string images, long[] labels)
    {
        using var session = ModelSession.Open(model, "mnist", new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 });
        int correct = 0, rows = 0;
        foreach (var feed in FeedLoader.Load(images, session.Inputs, maxRows: labels.Length, batchSize: 100))
        {
            var logits = session.Run(feed)[0].ToFloats();
            for (int r = 0; r < logits.Length / 10; r++, rows++)
                if (TensorPrimitives.IndexOfMax(logits.AsSpan(r * 10, 10)) == labels[rows]) correct++;
        }
        return (double)correct / rows;
    }

    // Mean output cosine, and how often the arg-max of each batch row agrees (classes, or ResNet's 512 features).
    private static (double Cosine, double Top1) Agreement(byte[] before, byte[] after, Dictionary<string, long[]> shapes, int samples)
    {
        var options = new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 };
        using var original = ModelSession.Open(before, "original", options);
        using var pruned = ModelSession.Open(after, "pruned", options);
        double cosine = 0;
        int agree = 0;
        for (int seed = 0; seed < samples; seed++)
        {
            var feed = InputGenerator.Generate(original.Inputs, shapes, seed);
            var e = original.Run(feed)[0].ToFloats();
            var a = pruned.Run(feed, [original.Outputs[0].Name])[0].ToFloats();
            cosine += OutputMetrics.Compute("y", e, a).Cosine;
            if (TensorPrimitives.IndexOfMax(e) == TensorPrimitives.IndexOfMax(a)) agree++;
        }
        return (cosine / samples, (double)agree / samples);
    }
}
