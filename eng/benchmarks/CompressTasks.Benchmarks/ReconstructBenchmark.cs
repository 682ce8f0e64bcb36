using System.Diagnostics;
using System.Globalization;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.TestSupport;

/// <summary>
/// <c>reconstruct</c>: time and peak memory of teacher statistics + GPTQ (quantize-weights-int8 and quantize-int4,
/// method gptq with bias correction) per MB of weights on mnist-mlp with its calibration data, each run in a fresh child process (peak working set);
/// round to nearest alongside. <c>reconstruct-kernels K…</c>: the kernels alone on a generated layer [K, 512]
/// (H accumulation over 2048 samples, int8 per-channel and int4 block-32 GPTQ), the sizes ResNet-18's Conv layers
/// would have as im2col matrices (K = C·kH·kW), which the pass does not handle yet.
/// </summary>
internal static class ReconstructBenchmark
{
    public static int Run(string[] args, Func<string[], (long Peak, string Line)> child, long idlePeak)
    {
        int runs = args is ["--runs", var n, ..] ? int.Parse(n, CultureInfo.InvariantCulture) : 5;
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var calibration = Path.Combine(Path.GetDirectoryName(model)!, "data", "calib_images.npy");
        long weightBytes = WeightBytes(model);
        Console.WriteLine($"reconstruct: {Path.GetFileName(model)}, {weightBytes / 1e6:F2} MB of MatMul weights, {calibration}; median of {runs} child runs; {Environment.ProcessorCount} cores");
        Console.WriteLine($"peak working set of an idle child process (runtime baseline): {idlePeak / 1e6:F1} MB");
        Console.WriteLine($"{"pass",-21} {"method",-6} {"stats ms",9} {"quantize ms",12} {"total ms",9} {"ms per MB",10} {"stats MB",9} {"peak MB",8} {"peak/size",9}");
        foreach (var (passName, method) in new[] { "quantize-weights-int8", "quantize-int4" }.SelectMany(p => new[] { (p, "rtn"), (p, "gptq") }))
        {
            var results = Enumerable.Range(0, runs).Select(_ => child(["reconstruct-once", model, calibration, passName, method])).ToList();
            var fields = results.Select(r => r.Line.Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()).ToList();
            double stats = Median(fields.Select(f => f[0])), pass = Median(fields.Select(f => f[1])), statsBytes = fields[0][2];
            long peak = (long)Median(results.Select(r => (double)r.Peak));
            Console.WriteLine($"{passName,-21} {method,-6} {stats,9:F0} {pass - stats,12:F0} {pass,9:F0} {pass / (weightBytes / 1e6),10:F0} {statsBytes / 1e6,9:F1} {peak / 1e6,8:F1} {(double)peak / new FileInfo(model).Length,9:F1}");
        }
        return 0;
    }

    /// <summary>One quantization in this process; prints "statsMs passMs statsBytes".</summary>
    public static string Once(string model, string calibration, string passName, string method)
    {
        var pass = PassRegistry.Get(passName);
        var context = new PassContext(model, calibration);
        var arguments = new PassArguments(pass.Descriptor, [new("method", method), new("bias-correction", method == "gptq")]);
        using var m = OnnxModel.Load(model);
        var clock = Stopwatch.StartNew();
        var runs = PassManager.Run(m, [new PassStep(pass, arguments)], context: context);
        double total = clock.Elapsed.TotalMilliseconds;
        if (runs[0].Result.Rewritten == 0) throw new InvalidOperationException(string.Join("; ", runs[0].Result.Notes));
        double stats = context.Teacher is { } t && method == "gptq" ? t.Elapsed.TotalMilliseconds : 0;
        long bytes = method == "gptq" ? context.Teacher!.Bytes : 0;
        return string.Create(CultureInfo.InvariantCulture, $"{stats:F1} {total:F1} {bytes}");
    }

    public static int Kernels(string[] args)
    {
        var sizes = args.Length > 0 ? args.Select(a => int.Parse(a, CultureInfo.InvariantCulture)).ToArray() : [576, 1152, 2304];
        const int n = 512, samples = 2048;
        Console.WriteLine($"reconstruct-kernels: layer [K, {n}], {samples} samples; {Environment.ProcessorCount} cores");
        Console.WriteLine($"{"K",6} {"weights MB",11} {"H ms",8} {"gptq int8 ms",13} {"gptq int4/32 ms",16} {"H MB",6} {"ms per MB",10}");
        foreach (int k in sizes)
        {
            var random = new Random(k);
            var x = new float[samples * k];
            for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle();
            var w = new float[k * n];
            for (int i = 0; i < w.Length; i++) w[i] = random.NextSingle() - 0.5f;
            using var h = new SymmetricMatrix(k);
            var clock = Stopwatch.StartNew();
            SecondMoment.Accumulate(x, k, h, new double[k]);
            double hMs = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            Gptq.Quantize(w, new float[w.Length], h, new LinearWeightQuantizer(k, n, 8, true), new GptqOptions());
            double int8Ms = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            Gptq.Quantize(w, new float[w.Length], h, new LinearWeightQuantizer(k, n, 4, true, 32), new GptqOptions());
            double int4Ms = clock.Elapsed.TotalMilliseconds;
            double mb = k * n * 4 / 1e6;
            Console.WriteLine($"{k,6} {mb,11:F2} {hMs,8:F0} {int8Ms,13:F0} {int4Ms,16:F0} {h.Bytes / 1e6,6:F0} {(hMs + int8Ms) / mb,10:F0}");
        }
        return 0;
    }

    private static long WeightBytes(string model)
    {
        using var m = OnnxModel.Load(model);
        var readByMatMul = m.Proto.Graph.Node.Where(x => x.OpType is "MatMul" or "Gemm").Select(x => x.Input[1]).ToHashSet();
        return m.Proto.Graph.Initializer.Where(t => readByMatMul.Contains(t.Name)).Sum(t => t.RawData.Length);
    }

    private static double Median(IEnumerable<double> values)
    {
        var v = values.Order().ToArray();
        return v.Length % 2 == 1 ? v[v.Length / 2] : (v[v.Length / 2 - 1] + v[v.Length / 2]) / 2;
    }
}
