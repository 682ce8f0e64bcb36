using System.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

/// <summary>
/// <c>optimize</c>: per real model, the original, our <c>optimize</c> passes and ONNX Runtime's own offline
/// optimizer at the basic level, side by side: node count, file size, session creation time and inference latency
/// (medians, same session options: ORT_ENABLE_ALL, the level users run, one intra-op thread).
/// </summary>
internal static class OptimizeBenchmark
{
    private static readonly string[] Passes = ["lift-constants", "fold-constants", "eliminate-identity", "eliminate-dead", "fuse-conv-bn", "fuse-matmul-add", "dedupe-initializers", "eliminate-dead"];

    public static int Run(string[] args)
    {
        int runs = args is ["--runs", var n, ..] ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 15;
        var temp = Directory.CreateTempSubdirectory("ct-bench-opt-").FullName;
        try
        {
            Console.WriteLine($"optimize: medians of {runs} session creations and {runs} inferences; ORT_ENABLE_ALL, 1 thread; {Environment.ProcessorCount} cores");
            Console.WriteLine($"{"model",-34} {"variant",-10} {"nodes",6} {"size KB",9} {"create ms",10} {"infer ms",9}");
            foreach (var (path, shapes, fixedInputs) in Models())
            {
                var ours = Path.Combine(temp, "ours.onnx");
                using (var model = OnnxModel.Load(path))
                {
                    PassManager.Run(model, Passes.Select(p => new PassStep(PassRegistry.Get(p), new PassArguments(PassRegistry.Get(p).Descriptor))).ToList(), rounds: 4);
                    model.Save(ours);
                }
                var basic = Path.Combine(temp, "ort-basic.onnx");
                using (ModelSession.Open(path, new RuntimeOptions { Optimization = OptimizationLevel.Basic, OptimizedModelPath = basic })) { }
                foreach (var (variant, file) in new[] { ("original", path), ("ours", ours), ("ort-basic", basic) })
                {
                    var (create, infer) = Time(file, shapes, fixedInputs, runs);
                    Console.WriteLine($"{Path.GetFileName(path),-34} {variant,-10} {Nodes(file),6} {new FileInfo(file).Length / 1024.0,9:F0} {create,10:F1} {infer,9:F2}");
                }
            }
            return 0;
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    internal static (double CreateMs, double InferMs) Time(string file, Dictionary<string, long[]>? shapes, Dictionary<string, TensorValue>? fixedInputs, int runs)
    {
        var options = new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 };
        var creates = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            using (ModelSession.Open(file, options)) { }
            creates[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        using var session = ModelSession.Open(file, options);
        var feed = InputGenerator.Generate(session.Inputs, shapes, seed: 1);
        foreach (var (name, value) in fixedInputs ?? []) feed[name] = value;
        var latency = CompressTasks.Verification.LatencyMeter.Measure(session, feed, warmup: 3, runs: runs);
        Array.Sort(creates);
        return (creates[runs / 2], latency.MedianMs);
    }

    internal static int Nodes(string file)
    {
        using var model = OnnxModel.Load(file);
        return PassManager.CountNodes(Graph.Open(model));
    }

    internal static IEnumerable<(string, Dictionary<string, long[]>?, Dictionary<string, TensorValue>?)> Models()
    {
        yield return (TestPaths.ResNet18, null, null);
        yield return (TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx"), new() { ["input"] = [1, 784] }, null);
        yield return (TestPaths.SharedModel("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx"), new() { ["x"] = [1, 3, 48, 192] }, null);
        yield return (TestPaths.SharedModel("ppocr-det/ch_PP-OCRv4_det_infer.onnx"), new() { ["x"] = [1, 3, 320, 320] }, null);
        yield return (TestPaths.SharedModel("silero-vad-legacy/silero_vad_legacy.onnx"), new() { ["input"] = [1, 512], ["h"] = [2, 1, 64], ["c"] = [2, 1, 64] },
            new() { ["sr"] = new TensorValue(7, [], BitConverter.GetBytes(16000L)) });
        yield return (TestPaths.SharedModel("wakeword-hello/hello_deepa.onnx"), null, null);
    }
}
