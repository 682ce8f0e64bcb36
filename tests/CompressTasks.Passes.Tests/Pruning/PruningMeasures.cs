using System.Diagnostics;
using System.IO.Compression;
using System.Numerics.Tensors;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Pruning;

/// <summary>Figures the pruning tests print and check: accuracy, agreement, gzip size, latency, onnx.checker.</summary>
internal static class PruningMeasures
{
    public static string MnistData => Path.Combine(Path.GetDirectoryName(TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx"))!, "data");

    /// <summary>Top-1 accuracy of mnist-mlp (or any classifier) on an .npy of images against labels.</summary>
    public static double Top1(byte[] model, string images, long[] labels) => TeacherHarness.Top1(model, images, labels);

    /// <summary>Bytes of the model after gzip (optimal): what zeros buy in a download or a package.</summary>
    public static long GzipBytes(byte[] model)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.SmallestSize, leaveOpen: true)) gzip.Write(model);
        return buffer.Length;
    }

    /// <summary>
    /// Agreement of the first output over <paramref name="samples"/> seeded inputs, at the given ORT level: mean cosine,
    /// and how often the arg-max of each batch row (all of a row's values: classes, or ResNet's 512 features) agrees.
    /// </summary>
    public static (double Cosine, double Top1) Agreement(byte[] before, byte[] after, IReadOnlyDictionary<string, long[]>? shapes, int samples,
        OptimizationLevel level = OptimizationLevel.All)
    {
        var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
        using var original = ModelSession.Open(before, "original", options);
        using var rewritten = ModelSession.Open(after, "rewritten", options);
        double cosine = 0;
        int agree = 0, rows = 0;
        for (int seed = 0; seed < samples; seed++)
        {
            var feeds = InputGenerator.Generate(original.Inputs, shapes, seed);
            var e = original.Run(feeds)[0];
            var a = rewritten.Run(feeds, [original.Outputs[0].Name])[0];
            if (!e.Shape.SequenceEqual(a.Shape)) throw new AssertFailedException($"output shape {string.Join(",", a.Shape)} != {string.Join(",", e.Shape)}");
            var ev = e.ToFloats();
            var av = a.ToFloats();
            // OutputMetrics: cosine 1 when both are all zeros (ppocr-det's probability map on noise underflows to 0).
            cosine += Verification.OutputMetrics.Compute("y", ev, av).Cosine;
            int width = (int)(ev.Length / Math.Max(1, e.Shape.Length > 0 ? e.Shape[0] : 1));
            for (int r = 0; r < ev.Length / width; r++, rows++)
                if (TensorPrimitives.IndexOfMax(ev.AsSpan(r * width, width)) == TensorPrimitives.IndexOfMax(av.AsSpan(r * width, width))) agree++;
        }
        return (cosine / samples, (double)agree / rows);
    }

    /// <summary>Median milliseconds of one run (after a warm-up), single-threaded, ORT optimizations on.</summary>
    public static double LatencyMs(byte[] model, IReadOnlyDictionary<string, long[]>? shapes, int runs = 5)
    {
        using var session = ModelSession.Open(model, "model", new RuntimeOptions { Optimization = OptimizationLevel.All, IntraOpThreads = 1 });
        var feeds = InputGenerator.Generate(session.Inputs, shapes, 0);
        session.Run(feeds);
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            session.Run(feeds);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[runs / 2];
    }

    /// <summary>
    /// Runs onnx.checker on the bytes; returns null when accepted, else its message. The full check (with shape
    /// inference) runs unless the model has sparse initializers: onnx 1.12's shape inference sees those as rank 0
    /// (a hand-made MatMul with one fails the same way), so for them the structural check runs alone.
    /// </summary>
    public static string? CheckerError(byte[] model)
    {
        var path = Path.Combine(Path.GetTempPath(), $"ct-prune-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, model);
            var (exit, text) = PythonOnnx.Run("import onnx, sys; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=len(m.graph.sparse_initializer) == 0); print('ok')", path);
            return exit == 0 ? null : text.Trim().Split('\n')[^1];
        }
        finally
        {
            File.Delete(path);
        }
    }
}
