using System.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;

/// <summary>
/// <c>precision</c>: per real model, the original next to convert-opset (to 13, and to 17), convert-weights-fp16 and
/// convert-fp16: node count, file size, the pass's own run time, median session creation and inference latency
/// (ORT_ENABLE_ALL, one intra-op thread, CPU provider) and latency relative to the original.
/// </summary>
internal static class PrecisionBenchmark
{
    private static readonly (string Variant, string Pass, KeyValuePair<string, object>[] Arguments)[] Variants =
    [
        ("opset-13", "convert-opset", [new("target-opset", 13)]),
        ("opset-17", "convert-opset", [new("target-opset", 17)]),
        ("weights-fp16", "convert-weights-fp16", []),
        ("fp16", "convert-fp16", []),
    ];

    public static int Run(string[] args)
    {
        int runs = args is ["--runs", var n, ..] ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 15;
        var temp = Directory.CreateTempSubdirectory("ct-bench-prec-").FullName;
        try
        {
            Console.WriteLine($"precision: medians of {runs} session creations and {runs} inferences; ORT_ENABLE_ALL, 1 thread, CPU; {Environment.ProcessorCount} cores");
            Console.WriteLine($"{"model",-34} {"variant",-13} {"nodes",6} {"size KB",9} {"pass ms",8} {"create ms",10} {"infer ms",9} {"infer ×",8}");
            foreach (var (path, shapes, fixedInputs) in OptimizeBenchmark.Models())
            {
                var (create0, infer0) = OptimizeBenchmark.Time(path, shapes, fixedInputs, runs);
                Console.WriteLine($"{Path.GetFileName(path),-34} {"original",-13} {OptimizeBenchmark.Nodes(path),6} {new FileInfo(path).Length / 1024.0,9:F0} {"",8} {create0,10:F1} {infer0,9:F2} {1.0,8:F2}");
                foreach (var (variant, pass, arguments) in Variants)
                {
                    var file = Path.Combine(temp, variant + ".onnx");
                    double passMs;
                    using (var model = OnnxModel.Load(path))
                    {
                        var graphPass = PassRegistry.Get(pass);
                        long start = Stopwatch.GetTimestamp();
                        var result = PassManager.Run(model, [new PassStep(graphPass, new PassArguments(graphPass.Descriptor, arguments))])[0].Result;
                        passMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        if (!result.Changed)
                        {
                            Console.WriteLine($"{Path.GetFileName(path),-34} {variant,-13} unchanged: {string.Join("; ", result.Notes).Split('\n')[0]}");
                            continue;
                        }
                        model.Save(file);
                    }
                    var (create, infer) = OptimizeBenchmark.Time(file, shapes, fixedInputs, runs);
                    Console.WriteLine($"{Path.GetFileName(path),-34} {variant,-13} {OptimizeBenchmark.Nodes(file),6} {new FileInfo(file).Length / 1024.0,9:F0} {passMs,8:F1} {create,10:F1} {infer,9:F2} {infer / infer0,8:F2}");
                }
            }
            return 0;
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }
}
