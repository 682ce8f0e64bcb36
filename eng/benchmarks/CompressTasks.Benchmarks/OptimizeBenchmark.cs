using System.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

/// <summary>
/// <c>optimize</c>: per real model, the original, our <c>optimize</c> and <c>optimize-ort</c> presets and ONNX
/// Runtime's own offline optimizer at the basic level, side by side: node count, file size, session creation time and
/// inference latency. Every variant runs under the same session options (ORT_ENABLE_ALL, the level users run, one
/// intra-op thread), and the timings are interleaved rounds compared per round with the original
/// (<see cref="PairedLatency"/>), so a loaded machine slows all variants alike and "slower" means outside the noise.
/// </summary>
internal static class OptimizeBenchmark
{
    public static int Run(string[] args)
    {
        int rounds = 30, perRound = 5, createRounds = 10, sequence = 16;
        string? keep = null, only = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "--runs" or "--rounds") rounds = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
            else if (args[i] == "--per-round") perRound = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
            else if (args[i] == "--create-rounds") createRounds = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
            else if (args[i] == "--keep") keep = args[++i];
            else if (args[i] == "--model") only = args[++i];
            else if (args[i] == "--sequence") sequence = int.Parse(args[++i], System.Globalization.CultureInfo.InvariantCulture);
        }
        var temp = Directory.CreateTempSubdirectory("ct-bench-opt-").FullName;
        var options = new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 };
        try
        {
            Console.WriteLine($"optimize: {rounds} interleaved rounds × {perRound} inferences (round median), {createRounds} interleaved session creations; " +
                $"ORT_ENABLE_ALL, 1 intra-op thread; {Environment.ProcessorCount} cores; load average {LoadAverage()}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
            Console.WriteLine("ratio = median over rounds of variant/original in the same round, [bootstrap 95% interval]; verdict slower/faster only when the interval excludes 1");
            Console.WriteLine($"{"model",-30} {"variant",-12} {"nodes",6} {"size KB",9} {"create ms",10} {"create ratio",22} {"infer ms",9} {"infer ratio",22} {"verdict",7}");
            foreach (var (path, shapes, fixedInputs) in OptimizeModels(sequence))
            {
                if (only is not null && !Path.GetFileName(path).StartsWith(only, StringComparison.OrdinalIgnoreCase)) continue;
                var variants = new List<(string Name, string File)> { ("original", path) };
                foreach (var preset in new[] { "optimize", "optimize-ort" })
                {
                    var file = Path.Combine(temp, preset + ".onnx");
                    using (var model = OnnxModel.Load(path))
                    {
                        PassManager.Run(model, Steps(preset), rounds: 4);
                        model.Save(file);
                    }
                    variants.Add((preset == "optimize" ? "ours" : "ours-ort", file));
                }
                var basic = Path.Combine(temp, "ort-basic.onnx");
                using (ModelSession.Open(path, new RuntimeOptions { Optimization = OptimizationLevel.Basic, OptimizedModelPath = basic })) { }
                variants.Add(("ort-basic", basic));
                if (keep is not null)
                {
                    // --keep DIR: leave the optimized files for inspection, e.g. to diff op-type histograms.
                    Directory.CreateDirectory(keep);
                    foreach (var (name, file) in variants.Skip(1))
                        File.Copy(file, Path.Combine(keep, $"{Path.GetFileNameWithoutExtension(path)}.{name}.onnx"), overwrite: true);
                }

                var creates = PairedLatency.Creation(variants.Select(v => v.File).ToList(), options, createRounds);
                var sessions = variants.Select(v => ModelSession.Open(v.File, options)).ToList();
                double[][] infers;
                try
                {
                    var feed = InputGenerator.Generate(sessions[0].Inputs, shapes, seed: 1);
                    foreach (var (name, value) in fixedInputs ?? []) feed[name] = value;
                    infers = PairedLatency.Inference(sessions, feed, rounds, perRound);
                }
                finally
                {
                    foreach (var s in sessions) s.Dispose();
                }
                for (int v = 0; v < variants.Count; v++)
                {
                    var createRatio = PairedLatency.Ratio(creates[v], creates[0]);
                    var inferRatio = PairedLatency.Ratio(infers[v], infers[0]);
                    var file = variants[v].File;
                    Console.WriteLine($"{DisplayName(path),-30} {variants[v].Name,-12} {Nodes(file),6} {new FileInfo(file).Length / 1024.0,9:F0} " +
                        $"{PairedLatency.Median(creates[v]),10:F1} {Format(createRatio),22} {PairedLatency.Median(infers[v]),9:F2} {Format(inferRatio),22} {(v == 0 ? "" : PairedLatency.Verdict(inferRatio)),7}");
                }
            }
            Console.WriteLine($"load average at the end: {LoadAverage()}; {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC");
            return 0;
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    // The extracted MiniLM's cache file carries the package dll's size and time stamp; the table shows the model's name.
    private static string DisplayName(string path) =>
        Path.GetFileName(path).StartsWith("all-MiniLM-L6-v2", StringComparison.Ordinal) ? "all-MiniLM-L6-v2.onnx" : Path.GetFileName(path);

    private static string Format((double Median, double Low, double High) r) => $"{r.Median:F3} [{r.Low:F3}, {r.High:F3}]";

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

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

    // A shipped preset (optimize unless named), then eliminate-dead for what the last round's fusions left unread.
    internal static List<PassStep> Steps(string preset = "optimize")
    {
        var recipe = new CompressTasks.Recipe.RecipeLoader(PassRegistry.Catalog)
            .Parse($"extends: {preset}\n", Path.Combine(Path.GetTempPath(), "compression.yaml")).GetRecipeOrThrow();
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

    // The models of Models() and the transformer (MiniLM, batch 2 × `sequence` tokens, 16 unless --sequence; rows after the first padded).
    internal static IEnumerable<(string, Dictionary<string, long[]>?, Dictionary<string, TensorValue>?)> OptimizeModels(int sequence = 16) =>
        Models().Append((TestPaths.MiniLM, null, MiniLMModel.Inputs(batch: 2, sequence: sequence, seed: 0)));
}
