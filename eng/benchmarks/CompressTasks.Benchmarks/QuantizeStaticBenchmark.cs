using System.Diagnostics;
using System.Numerics.Tensors;
using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

/// <summary>
/// <c>quantize-static</c>: per model, the fp32 original, <c>optimize</c> (fp32) and <c>int8-static</c> (optimize +
/// quantize-static) side by side: file size, median ORT CPU latency (ORT_ENABLE_ALL, one intra-op thread, the same
/// input), accuracy on labelled evaluation data where the model has some (cosine to the original otherwise), and the
/// time of the quantize-static step (calibration included) with its throughput in MB of float weights per second.
/// </summary>
internal static class QuantizeStaticBenchmark
{
    private sealed record Case(string Name, string Path, string Calibration, (string Name, object Value)[] Arguments, long[] Shape, string? Images = null, string? Labels = null);

    public static int Run(string[] args)
    {
        int runs = args is ["--runs", var n, ..] ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 30;
        var temp = Directory.CreateTempSubdirectory("ct-bench-static-").FullName;
        try
        {
            Console.WriteLine($"quantize-static: median latency of {runs} runs after 5 warm-ups; ORT_ENABLE_ALL, 1 thread; {Environment.ProcessorCount} cores");
            Console.WriteLine($"{"model",-22} {"variant",-11} {"size KB",9} {"ratio",6} {"infer ms",9} {"vs fp32",8} {"accuracy",29} {"pass ms",8} {"MB/s",6}");
            foreach (var c in Cases(temp))
            {
                var optimized = System.IO.Path.Combine(temp, "optimized.onnx");
                var quantized = System.IO.Path.Combine(temp, "int8-static.onnx");
                double passMs;
                long floatWeightBytes;
                using (var model = OnnxModel.Load(c.Path))
                {
                    PassManager.Run(model, OptimizeBenchmark.Steps(), rounds: 4);
                    model.Save(optimized);
                    floatWeightBytes = PassManager.CountBytes(model);
                    var run = PassManager.Run(model, [Step("quantize-static", c.Arguments)], context: new PassContext(null, DataSource.FromPath(c.Calibration)));
                    passMs = run[0].Milliseconds;
                    if (run[0].Result.Rewritten == 0) Console.WriteLine($"  {c.Name}: nothing quantized: {string.Join("; ", run[0].Result.Notes)}");
                    model.Save(quantized);
                }
                var feed = new Dictionary<string, TensorValue> { [InputName(c.Path)] = TensorValue.FromFloats(Images(c.Shape, 7), c.Shape) };
                double fp32Ms = 0;
                float[]? reference = null;
                foreach (var (variant, file) in new[] { ("original", c.Path), ("optimize", optimized), ("int8-static", quantized) })
                {
                    var options = new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 };
                    using var session = ModelSession.Open(file, options);
                    double ms = CompressTasks.Verification.LatencyMeter.Measure(session, feed, warmup: 5, runs: runs).MedianMs;
                    if (variant == "original") fp32Ms = ms;
                    var output = session.Run(feed)[0].ToFloats();
                    reference ??= output;
                    // A one-element output (hello_deepa's score) has cosine 1 whatever it holds: the max |Δ| says more.
                    string accuracy = c.Images is null
                        ? $"cos {TensorPrimitives.CosineSimilarity(reference, output):F5} max|Δ| {MaxAbsDiff(reference, output):G2}"
                        : $"top-1 {Top1(session, c.Images, c.Labels!):P1}";
                    bool isInt8 = variant == "int8-static";
                    long size = new FileInfo(file).Length;
                    Console.WriteLine($"{c.Name,-22} {variant,-11} {size / 1024.0,9:F0} {(double)new FileInfo(c.Path).Length / size,6:F2} {ms,9:F3} {fp32Ms / ms,7:F2}× {accuracy,29} "
                        + (isInt8 ? $"{passMs,8:F0} {floatWeightBytes / 1e6 / (passMs / 1e3),6:F1}" : ""));
                }
            }
            return 0;
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
    }

    private static IEnumerable<Case> Cases(string temp)
    {
        var mnist = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(mnist)!, "data");
        foreach (var method in new[] { "minmax", "entropy" })
            yield return new Case($"mnist-mlp {method}", mnist, System.IO.Path.Combine(data, "calib_images.npy"), [("method", method)], [1, 784],
                System.IO.Path.Combine(data, "test_images.npy"), System.IO.Path.Combine(data, "test_labels.npy"));

        // ResNet-18 ships at opset 8; onnx's version converter makes the opset-13 copy the pass needs. No ImageNet
        // images here: calibration and timing use uniform random pixels, so accuracy is the cosine to the original.
        var resnet = System.IO.Path.Combine(temp, "resnet18-13.onnx");
        var (exit, text) = PythonOnnx.Run("""
            import onnx, sys
            from onnx import helper, version_converter
            m = onnx.load(sys.argv[1])
            declared = {i.name for i in m.graph.input}
            for t in m.graph.initializer:
                if t.name not in declared:
                    m.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
            onnx.save(version_converter.convert_version(m, 13), sys.argv[2])
            """, TestPaths.ResNet18, resnet);
        if (exit != 0) throw new InvalidOperationException($"onnx.version_converter failed: {text}");
        yield return new Case("resnet18 (opset 13)", resnet, Calibration(temp, "resnet", 16, [3, 224, 224]), [("method", "percentile")], [1, 3, 224, 224]);

        yield return new Case("hello_deepa", TestPaths.SharedModel("wakeword-hello/hello_deepa.onnx"), Calibration(temp, "hello", 16, [25, 96]), [], [1, 25, 96]);
        // Opset 11: per-tensor weights; free batch dimension, so calibration batches are 50 rows.
        yield return new Case("ppocr-det (opset 11)", TestPaths.SharedModel("ppocr-det/ch_PP-OCRv4_det_infer.onnx"), Calibration(temp, "det", 50, [3, 160, 160]),
            [("per-channel", false), ("method", "percentile")], [1, 3, 320, 320]);
    }

    private static float MaxAbsDiff(float[] a, float[] b)
    {
        float max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs(a[i] - b[i]));
        return max;
    }

    private static string Calibration(string temp, string name, int rows, long[] rowShape)
    {
        var path = System.IO.Path.Combine(temp, name + "-calib.npy");
        NpyFile.Write(path, Images([rows, .. rowShape], 100), [rows, .. rowShape]);
        return path;
    }

    private static float[] Images(long[] shape, int seed)
    {
        var random = new Random(seed);
        var values = new float[shape.Aggregate(1L, (a, d) => a * d)];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextSingle();
        return values;
    }

    private static string InputName(string path)
    {
        using var session = ModelSession.Open(path);
        return session.Inputs[0].Name;
    }

    private static PassStep Step(string name, (string Name, object Value)[]? values = null)
    {
        var pass = PassRegistry.Get(name);
        return new PassStep(pass, new PassArguments(pass.Descriptor, (values ?? []).Select(v => new KeyValuePair<string, object>(v.Name, v.Value))));
    }

    private static double Top1(ModelSession session, string images, string labelsPath)
    {
        var labels = FeedLoader.LoadLabels(labelsPath);
        int correct = 0, rows = 0;
        foreach (var feed in FeedLoader.Load(images, session.Inputs, maxRows: labels.Length, batchSize: 100))
        {
            var logits = session.Run(feed)[0];
            int classes = (int)logits.Shape[^1];
            var values = logits.ToFloats();
            for (int r = 0; r < values.Length / classes; r++, rows++)
                if (TensorPrimitives.IndexOfMax(values.AsSpan(r * classes, classes)) == labels[rows]) correct++;
        }
        return (double)correct / rows;
    }
}
