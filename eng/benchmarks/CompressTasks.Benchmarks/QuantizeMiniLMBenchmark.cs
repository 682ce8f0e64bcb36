using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using Google.Protobuf;
using TensorValue = CompressTasks.Runtime.TensorValue;

/// <summary>
/// <c>quantize-minilm</c>: all-MiniLM-L6-v2 after the <c>optimize</c> passes (the fp32 baseline) against its
/// quantize-dynamic and quantize-int4 variants (also with quantize-embeddings on the Gather tables): latency ratio variant / fp32 from interleaved rounds
/// (<see cref="PairedLatency"/>: median and bootstrap 95% interval; ORT_ENABLE_ALL, one intra-op thread), size ratio,
/// and the cosine of the mean-pooled sentence embedding (unpadded tokens) to the fp32 one, worst sentence.
/// </summary>
internal static class QuantizeMiniLMBenchmark
{
    private static readonly string[] Optimize = ["lift-constants", "fold-constants", "eliminate-identity", "eliminate-dead", "fuse-conv-bn", "fuse-matmul-add", "dedupe-initializers"];

    public static int Run(string[] args)
    {
        int rounds = 20, perRound = 5;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--rounds") rounds = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
            else if (args[i] == "--per-round") perRound = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
        }
        using var optimized = OnnxModel.Load(TestPaths.MiniLM);
        PassManager.Run(optimized, [.. Optimize.Select(p => new PassStep(PassRegistry.Get(p), new PassArguments(PassRegistry.Get(p).Descriptor)))], rounds: 4);
        var baseline = optimized.Proto.ToByteArray();
        var ffn = MiniLMFeedForward(optimized);
        var variants = new (string Label, byte[] Bytes)[]
        {
            ("fp32 (optimized)", baseline),
            ("dynamic int8", Quantize(baseline, "quantize-dynamic", [])),
            ("dynamic, FFN fp32", Quantize(baseline, "quantize-dynamic", [new("exclude", ffn)])),
            ("dynamic, 1st down fp32", Quantize(baseline, "quantize-dynamic", [new("exclude", new[] { ffn[1] })])),
            ("int4 B32", Quantize(baseline, "quantize-int4", [])),
            ("int4 B32 acc4", Quantize(baseline, "quantize-int4", [new("accuracy-level", 4)])),
            ("dynamic int8 + emb int8", Quantize(Quantize(baseline, "quantize-dynamic", []), "quantize-embeddings", [])),
            ("int4 B32 + emb int4", Quantize(Quantize(baseline, "quantize-int4", []), "quantize-embeddings", [new("format", "gather-block-quantized")])),
        };
        variants = [.. variants, .. SmoothedVariants(baseline)];
        var options = new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 };
        Console.WriteLine($"quantize-minilm: {rounds} interleaved rounds × median of {perRound}; ORT_ENABLE_ALL, 1 intra-op thread; {Environment.ProcessorCount} cores; load {LoadAverage()}");
        foreach (var (batch, sequence) in new[] { (1, 128), (8, 128) })
        {
            var feed = MiniLMModel.Inputs(batch, sequence, seed: 3);
            var sessions = variants.Select(v => ModelSession.Open(v.Bytes, v.Label, options)).ToList();
            try
            {
                var expected = sessions[0].Run(feed)[0].ToFloats();
                var times = PairedLatency.Inference(sessions, feed, rounds, perRound);
                Console.WriteLine($"batch {batch} × {sequence} tokens");
                Console.WriteLine($"  {"variant",-24} {"size MB",8} {"size ×",7} {"infer ms",9} {"latency ratio (95% CI)",24} {"verdict",7} {"embedding cos",14}");
                for (int v = 0; v < variants.Length; v++)
                {
                    var ratio = PairedLatency.Ratio(times[v], times[0]);
                    double cosine = MinMeanPooledCosine(expected, sessions[v].Run(feed)[0].ToFloats(), feed["attention_mask"], batch, sequence);
                    Console.WriteLine($"  {variants[v].Label,-24} {variants[v].Bytes.Length / 1e6,8:F1} {(double)baseline.Length / variants[v].Bytes.Length,7:F2} "
                        + $"{PairedLatency.Median(times[v]),9:F2} {$"{ratio.Median:F2} [{ratio.Low:F2}, {ratio.High:F2}]",24} {(v == 0 ? "" : PairedLatency.Verdict(ratio)),7} {cosine,14:F4}");
                }
                SmoothedVersusPlain(variants, times);
            }
            finally
            {
                foreach (var s in sessions) s.Dispose();
            }
        }
        Console.WriteLine("latency ratio: variant / fp32 per round (below 1: faster); verdict only when the interval excludes 1");
        return 0;
    }

    // smooth-activations (calibrated on 50 unpadded sentences of 32 tokens, seeds 100–149, apart from the timed feed)
    // then quantize-dynamic: α = 0.8 with min-scale 1, the best setting measured on MiniLM, and the paper's α = 0.5.
    private static (string Label, byte[] Bytes)[] SmoothedVariants(byte[] baseline)
    {
        var directory = Directory.CreateTempSubdirectory("ct-bench-smooth-").FullName;
        try
        {
            const int Rows = 50, Sequence = 32;
            var files = new Dictionary<string, string>();
            foreach (var name in new[] { "input_ids", "attention_mask", "token_type_ids" })
            {
                var values = new long[Rows * Sequence];
                for (int r = 0; r < Rows; r++)
                    System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(MiniLMModel.Inputs(1, Sequence, seed: 100 + r)[name].Data.AsSpan())
                        .CopyTo(values.AsSpan(r * Sequence, Sequence));
                files[name] = Path.Combine(directory, name + ".npy");
                NpyFile.Write(files[name], values, Rows, Sequence);
            }
            var context = new PassContext(null, CompressTasks.Runtime.Data.DataSource.PerInput(files));
            byte[] Smoothed(double alpha, double minScale)
            {
                using var model = OnnxModel.Parse(baseline);
                var smooth = PassRegistry.Get("smooth-activations");
                var quantize = PassRegistry.Get("quantize-dynamic");
                PassManager.Run(model, [new PassStep(smooth, new PassArguments(smooth.Descriptor, [new("alpha", alpha), new("min-scale", minScale)])),
                    new PassStep(quantize, new PassArguments(quantize.Descriptor))], context: context);
                return model.Proto.ToByteArray();
            }
            return [("smoothed + dyn int8", Smoothed(0.8, 1)), ("smoothed a.5 + dyn", Smoothed(0.5, 0))];
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    // The cost of smoothing's inserted Muls, paired directly: smoothed + dynamic int8 / dynamic int8, round by round.
    private static void SmoothedVersusPlain((string Label, byte[] Bytes)[] variants, double[][] times)
    {
        int plain = Array.FindIndex(variants, v => v.Label == "dynamic int8");
        int smoothed = Array.FindIndex(variants, v => v.Label == "smoothed + dyn int8");
        if (plain < 0 || smoothed < 0) return;
        var ratio = PairedLatency.Ratio(times[smoothed], times[plain]);
        Console.WriteLine($"  smoothed + dyn int8 / dynamic int8: {ratio.Median:F2} [{ratio.Low:F2}, {ratio.High:F2}] {PairedLatency.Verdict(ratio)}");
    }

    private static byte[] Quantize(byte[] bytes, string pass, KeyValuePair<string, object>[] arguments)
    {
        using var model = OnnxModel.Parse(bytes);
        var step = PassRegistry.Get(pass);
        PassManager.Run(model, [new PassStep(step, new PassArguments(step.Descriptor, arguments))]);
        return model.Proto.ToByteArray();
    }

    // The feed-forward MatMuls (weights [384, 1536] and [1536, 384]), the ones whose activations quantize worst, in
    // graph order: up, down, up, down…; the first layer's down-projection ([1] here) is the worst of all.
    private static string[] MiniLMFeedForward(OnnxModel model)
    {
        var initializers = model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => t.Dims.ToArray());
        return [.. model.Proto.Graph.Node.Where(n => n.OpType == "MatMul" && n.Input.Count > 1 && initializers.TryGetValue(n.Input[1], out var dims)
            && dims.Length == 2 && Math.Max(dims[0], dims[1]) == 4 * Math.Min(dims[0], dims[1])).Select(n => n.Name)];
    }

    // Sentence embedding as sentence-transformers forms it: the mean of last_hidden_state over unpadded tokens.
    private static double MinMeanPooledCosine(float[] expected, float[] actual, TensorValue mask, int batch, int sequence)
    {
        var m = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(mask.Data.AsSpan());
        int hidden = expected.Length / (batch * sequence);
        var (e, a) = (new float[hidden], new float[hidden]);
        double worst = 1;
        for (int b = 0; b < batch; b++)
        {
            Array.Clear(e);
            Array.Clear(a);
            for (int t = 0; t < sequence; t++)
            {
                if (m[b * sequence + t] == 0) continue;
                int at = (b * sequence + t) * hidden;
                System.Numerics.Tensors.TensorPrimitives.Add(e, expected.AsSpan(at, hidden), e);
                System.Numerics.Tensors.TensorPrimitives.Add(a, actual.AsSpan(at, hidden), a);
            }
            worst = Math.Min(worst, System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(e, a));
        }
        return worst;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
}
