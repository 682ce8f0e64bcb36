using CompressTasks.Model;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Quantization;

/// <summary>Checks shared by the lossy quantization tests: cosine agreement, mnist-mlp top-1, onnx.checker.</summary>
internal static class QuantizationAssert
{
    /// <summary>
    /// Every output's cosine to the original's, with ORT's optimizations off and on, over two seeded inputs; returns
    /// the smallest cosine seen.
    /// </summary>
    public static double Cosine(byte[] before, byte[] after, double minCosine, IReadOnlyDictionary<string, TensorValue>? fixedInputs = null,
        IReadOnlyDictionary<string, long[]>? shapes = null) => Cosine(before, after, minCosine, fixedInputs, shapes, out _);

    /// <summary>As above; <paramref name="largestDifference"/> is the largest |expected − actual| of any float output element.</summary>
    public static double Cosine(byte[] before, byte[] after, double minCosine, IReadOnlyDictionary<string, TensorValue>? fixedInputs,
        IReadOnlyDictionary<string, long[]>? shapes, out double largestDifference)
    {
        double worst = 1;
        largestDifference = 0;
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
            using var original = ModelSession.Open(before, "original", options);
            using var rewritten = ModelSession.Open(after, "rewritten", options);
            for (int seed = 0; seed < 2; seed++)
            {
                var feeds = InputGenerator.Generate(original.Inputs, shapes, seed);
                foreach (var (name, value) in fixedInputs ?? new Dictionary<string, TensorValue>()) feeds[name] = value;
                var expected = original.Run(feeds);
                var actual = rewritten.Run(feeds, original.Outputs.Select(o => o.Name).ToArray());
                for (int o = 0; o < expected.Count; o++)
                {
                    CollectionAssert.AreEqual(expected[o].Shape, actual[o].Shape);
                    if (expected[o].ElementType != 1) continue;
                    var (e, a) = (expected[o].ToFloats(), actual[o].ToFloats());
                    for (int i = 0; i < e.Length; i++) largestDifference = Math.Max(largestDifference, Math.Abs(e[i] - a[i]));
                    double cosine = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(e.Select(v => (double)v).ToArray(), a.Select(v => (double)v).ToArray());
                    Assert.IsTrue(cosine >= minCosine, $"output {original.Outputs[o].Name} at {level}: cosine {cosine:F6} < {minCosine}");
                    worst = Math.Min(worst, cosine);
                }
            }
        }
        return worst;
    }

    /// <summary>
    /// Asserts every output of <paramref name="after"/> is within atol + rtol·|expected| (or, with
    /// <paramref name="relativeToLargest"/>, rtol·max|expected| of the output) of <paramref name="reference"/>'s at one
    /// ONNX Runtime optimization level, over two seeded inputs; returns the largest |difference|.
    /// </summary>
    public static double Close(byte[] reference, byte[] after, OptimizationLevel level, double rtol, double atol, bool relativeToLargest = false)
    {
        var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
        using var expectedSession = ModelSession.Open(reference, "reference", options);
        using var actualSession = ModelSession.Open(after, "rewritten", options);
        double worst = 0;
        for (int seed = 0; seed < 2; seed++)
        {
            var feeds = InputGenerator.Generate(expectedSession.Inputs, null, seed);
            var expected = expectedSession.Run(feeds);
            var actual = actualSession.Run(feeds, expectedSession.Outputs.Select(o => o.Name).ToArray());
            for (int o = 0; o < expected.Count; o++)
            {
                var (e, a) = (expected[o].ToFloats(), actual[o].ToFloats());
                Assert.HasCount(e.Length, a);
                double largest = relativeToLargest ? System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(e) : 0;
                for (int i = 0; i < e.Length; i++)
                {
                    double difference = Math.Abs(e[i] - a[i]);
                    double tolerance = atol + rtol * (relativeToLargest ? Math.Abs(largest) : Math.Abs(e[i]));
                    worst = Math.Max(worst, difference);
                    if (difference > tolerance)
                        Assert.Fail($"output {expectedSession.Outputs[o].Name}[{i}] at {level}: {a[i]} vs {e[i]} (tolerance {tolerance:G3})");
                }
            }
        }
        return worst;
    }

    /// <summary>Top-1 accuracy of mnist-mlp (or a rewrite of it) on its 1,000 held-out test images.</summary>
    public static double MnistTop1(byte[] model, OptimizationLevel level = OptimizationLevel.All)
    {
        var data = Path.Combine(Path.GetDirectoryName(TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx"))!, "data");
        var labels = FeedLoader.LoadLabels(Path.Combine(data, "test_labels.npy"));
        Assert.HasCount(1000, labels);
        return TeacherHarness.Top1(model, Path.Combine(data, "test_images.npy"), labels, level);
    }

    /// <summary>Asserts onnx.checker (full check) accepts the model.</summary>
    public static void Checker(byte[] model)
    {
        var (exit, text) = PythonOnnx.CheckModel(model);
        Assert.AreEqual(0, exit, $"onnx.checker rejected the model: {text}");
    }

    /// <summary>The model's bytes as saved: what a user's file would hold.</summary>
    public static long Size(OnnxModel model) => PassHarness.Bytes(model).LongLength;
}
