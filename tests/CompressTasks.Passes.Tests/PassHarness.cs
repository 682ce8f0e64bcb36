using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using Google.Protobuf;

namespace CompressTasks.Passes.Tests;

/// <summary>Runs one pass and checks original and rewritten models agree in ONNX Runtime.</summary>
internal static class PassHarness
{
    /// <summary>Runs <paramref name="pass"/> with default arguments on the model and returns its result.</summary>
    public static PassResult Run(OnnxModel model, GraphPass pass, PassArguments? arguments = null, PassContext? context = null)
    {
        var runs = PassManager.Run(model, [new PassStep(pass, arguments ?? new PassArguments(pass.Descriptor))], validateEachPass: true, context: context);
        return runs[0].Result;
    }

    /// <summary>
    /// Runs both models on the same seeded inputs, with ONNX Runtime's graph optimizations off (our rewrite alone)
    /// and at the level users run (ours combined with ORT's fusions), and asserts every output agrees within
    /// |a − b| ≤ atol + rtol·|a|.
    /// </summary>
    public static void AssertSameOutputs(byte[] before, byte[] after, IReadOnlyDictionary<string, long[]>? shapes = null, double rtol = 1e-4, double atol = 1e-5,
        IReadOnlyDictionary<string, TensorValue>? fixedInputs = null, int samples = 2)
    {
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
            using var original = ModelSession.Open(before, "original", options);
            using var rewritten = ModelSession.Open(after, "rewritten", options);
            for (int seed = 0; seed < samples; seed++)
            {
                var feeds = InputGenerator.Generate(original.Inputs, shapes, seed);
                foreach (var (name, value) in fixedInputs ?? new Dictionary<string, TensorValue>()) feeds[name] = value;
                var expected = original.Run(feeds);
                var actual = rewritten.Run(feeds, original.Outputs.Select(o => o.Name).ToArray());
                for (int o = 0; o < expected.Count; o++)
                {
                    CollectionAssert.AreEqual(expected[o].Shape, actual[o].Shape, $"shape of output {o} at {level}");
                    var e = expected[o].ToFloats();
                    var a = actual[o].ToFloats();
                    for (int i = 0; i < e.Length; i++)
                    {
                        double tolerance = atol + rtol * Math.Abs(e[i]);
                        if (Math.Abs(e[i] - a[i]) > tolerance)
                            Assert.Fail($"output {original.Outputs[o].Name}[{i}] at {level}: {a[i]} vs {e[i]} (tolerance {tolerance:G3})");
                    }
                }
            }
        }
    }

    public static byte[] Bytes(OnnxModel model) => model.Proto.ToByteArray();
}
