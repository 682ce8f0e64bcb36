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
    public static int Run(string[] args)
    {
        int runs = 15;
        string? keep = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--runs") runs = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
            else if (args[i] == "--keep") keep = args[++i];
        }
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
                    PassManager.Run(model, Steps(), rounds: 4);
                    model.Save(ours);
                }
                var basic = Path.Combine(temp, "ort-basic.onnx");
                using (ModelSession.Open(path, new RuntimeOptions { Optimization = OptimizationLevel.Basic, OptimizedModelPath = basic })) { }
                if (keep is not null)
                {
                    // --keep DIR: leave both optimized files for inspection, e.g. to diff op-type histograms.
                    Directory.CreateDirectory(keep);
                    File.Copy(ours, Path.Combine(keep, Path.GetFileNameWithoutExtension(path) + ".ours.onnx"), overwrite: true);
                    File.Copy(basic, Path.Combine(keep, Path.GetFileNameWithoutExtension(path) + ".ort-basic.onnx"), overwrite: true);
                }
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

    // The shipped optimize preset, then eliminate-dead for what the last round's fusions left unread.
    internal static List<PassStep> Steps()
    {
        var recipe = new CompressTasks.Recipe.RecipeLoader(PassRegistry.Catalog)
            .Parse("extends: optimize\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();
        var dead = PassRegistry.Get("eliminate-dead");
        return [.. recipe.Passes.Select(p => new PassStep(PassRegistry.Get(p.Name), p.Arguments)), new PassStep(dead, new PassArguments(dead.Descriptor))];
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
