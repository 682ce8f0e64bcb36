using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using static CompressTasks.Passes.Tests.TestModels;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Quantization;

[TestClass]
public sealed class SmoothActivationsTests
{
    private static readonly SmoothActivations Pass = new();

    // Smoothing is exact in real arithmetic; in float32 each of s·W, X/s (or γ/s, β/s) adds one rounding (2⁻²⁴
    // relative) per element, and the products are summed over K ≤ 32 channels: the outputs move by ~1e-7 of their
    // largest magnitude. 1e-5 of max|y| leaves room for ORT's fused kernels and still fails for any wrong scale.
    private const double RelativeTolerance = 1e-5;

    private const int Batch = 4, Tokens = 5, K = 16;

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, [new("min-elements", 1), .. values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value))]);

    // Uniform values in (-1, 1), the channels in `outliers` 30× larger (the activation outliers smoothing targets).
    private static float[] Data(int count, int channels, int seed, params int[] outliers)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < count; i++) values[i] = (2 * random.NextSingle() - 1) * (outliers.Contains(i % channels) ? 30 : 1);
        return values;
    }

    // γ with two outlier channels, as BERT's LayerNorms have.
    private static float[] Gamma()
    {
        var gamma = Data(K, K, 7);
        gamma[3] = 25;
        gamma[11] = -18;
        return gamma;
    }

    // x [4, 5, 16] ─LayerNormalization(γ, β)─▶ X ─MatMul(Wq [16, 8])─▶ q, ─MatMul(Wk [16, 8])─▶ k: X read by the group only.
    private static TestModels LayerNormOp()
    {
        var m = new TestModels(17).Input("x", Batch, Tokens, K).Output("q", Batch, Tokens, 8).Output("k", Batch, Tokens, 8)
            .Weight("Wq", [K, 8], 1).Weight("Wk", [K, 8], 2).Weight("beta", [K], 3);
        m.Graph.Initializer.Add(Tensor("gamma", [K], Gamma()));
        return m.Node("LayerNormalization", ["x", "gamma", "beta"], ["X"], Int("axis", -1))
            .Node("MatMul", ["X", "Wq"], ["q"]).Node("MatMul", ["X", "Wk"], ["k"]);
    }

    // The same LayerNorm spelled out (opset 13), ending in Mul(γ) → Add(β), read by one MatMul.
    private static TestModels DecomposedLayerNorm()
    {
        var m = new TestModels(13).Input("x", Batch, Tokens, K).Output("y", Batch, Tokens, 8).Weight("W", [K, 8], 1).Weight("beta", [K], 3);
        m.Graph.Initializer.Add(Tensor("gamma", [K], Gamma()));
        m.Graph.Initializer.Add(Tensor("eps", [], [1e-5f]));
        return m.Node("ReduceMean", ["x"], ["mean"], Ints("axes", -1)).Node("Sub", ["x", "mean"], ["d"]).Node("Mul", ["d", "d"], ["d2"])
            .Node("ReduceMean", ["d2"], ["var"], Ints("axes", -1)).Node("Add", ["var", "eps"], ["ve"]).Node("Sqrt", ["ve"], ["sd"])
            .Node("Div", ["d", "sd"], ["n"]).Node("Mul", ["n", "gamma"], ["t"]).Node("Add", ["t", "beta"], ["X"])
            .Node("MatMul", ["X", "W"], ["y"]);
    }

    // LayerNormalization ─▶ X read by two MatMuls and by the residual Add: r = X + X·W2.
    private static TestModels Residual()
    {
        var m = new TestModels(17).Input("x", Batch, Tokens, K).Output("a", Batch, Tokens, 8).Output("r", Batch, Tokens, K)
            .Weight("W1", [K, 8], 1).Weight("W2", [K, K], 2).Weight("beta", [K], 3);
        m.Graph.Initializer.Add(Tensor("gamma", [K], Gamma()));
        return m.Node("LayerNormalization", ["x", "gamma", "beta"], ["X"]).Node("MatMul", ["X", "W1"], ["a"])
            .Node("MatMul", ["X", "W2"], ["b"]).Node("Add", ["X", "b"], ["r"]);
    }

    // x [4, 16] ─MatMul(W0 [16, 32])─▶ h ─GELU as h·0.5·(1 + erf(h/√2))─▶ X ─MatMul(W1 [32, 8])─▶ y (X from a non-linear op).
    private static TestModels GeluChain()
    {
        var m = new TestModels(13).Input("x", Batch, K).Output("y", Batch, 8).Weight("W1", [32, 8], 2);
        var w0 = Data(K * 32, 32, 1, 5, 20); // columns 5 and 20 of W0 30× larger: outlier channels of X
        m.Graph.Initializer.Add(Tensor("W0", [K, 32], w0));
        m.Graph.Initializer.Add(Tensor("sqrt2", [], [MathF.Sqrt(2)]));
        m.Graph.Initializer.Add(Tensor("one", [], [1f]));
        m.Graph.Initializer.Add(Tensor("half", [], [0.5f]));
        return m.Node("MatMul", ["x", "W0"], ["h"]).Node("Div", ["h", "sqrt2"], ["hs"]).Node("Erf", ["hs"], ["e"]).Node("Add", ["e", "one"], ["e1"])
            .Node("Mul", ["h", "e1"], ["he"]).Node("Mul", ["he", "half"], ["X"]).Node("MatMul", ["X", "W1"], ["y"]);
    }

    // x [4, 16] ─Relu─▶ X ─Gemm(W [8, 16], b, transB = 1)─▶ y, ─MatMul(W2 [16, 8])─▶ z: both layouts in one group.
    private static TestModels ReluGemm()
    {
        var m = new TestModels(13).Input("x", Batch, K).Output("y", Batch, 8).Output("z", Batch, 8)
            .Weight("W", [8, K], 1).Weight("b", [8], 2, -8, 8).Weight("W2", [K, 8], 3);
        return m.Node("Relu", ["x"], ["X"]).Node("Gemm", ["X", "W", "b"], ["y"], Int("transB", 1)).Node("MatMul", ["X", "W2"], ["z"]);
    }

    private static TestModels Build(string name) => name switch
    {
        "layernorm-op" => LayerNormOp(),
        "decomposed-layernorm" => DecomposedLayerNorm(),
        "residual" => Residual(),
        "gelu-chain" => GeluChain(),
        _ => ReluGemm(),
    };

    // Calibration rows for the model's one input, with outlier channels 2 and 9.
    private static (OnnxModel Model, PassContext Context) WithCalibration(TestModels m, string directory, int rows = 32)
    {
        var model = m.Build();
        var input = model.Proto.Graph.Input[0].Type.TensorType.Shape.Dim.Select(d => d.DimValue).ToArray();
        long[] shape = [rows, .. input[1..]];
        var path = Path.Combine(directory, "calibration.npy");
        NpyFile.Write(path, Data((int)shape.Aggregate(1L, (a, d) => a * d), (int)input[^1], 11, 2, 9), shape);
        return (model, new PassContext(null, path));
    }

    [TestMethod]
    [DataRow("layernorm-op", 1, 0)]
    [DataRow("decomposed-layernorm", 1, 0)]
    [DataRow("residual", 1, 1)]
    [DataRow("gelu-chain", 2, 2)] // the graph input x (read by the first MatMul) and X
    [DataRow("relu-gemm", 1, 1)]
    public void WhenSmoothed_OutputsEqualTheOriginalsInFloat_AtBothOptimizationLevels(string name, int groups, int inserted)
    {
        using var temp = new TempFolder();
        var (model, context) = WithCalibration(Build(name), temp.Path);
        using var _ = model;
        var before = PassHarness.Bytes(model);
        var inputsBefore = model.Proto.Graph.Input.Select(i => i.ToString()).ToArray();
        var outputsBefore = model.Proto.Graph.Output.Select(o => o.ToString()).ToArray();
        int nodesBefore = model.Proto.Graph.Node.Count;
        long opset = model.Proto.OpsetImport.Single().Version;

        var result = PassHarness.Run(model, Pass, Args(), context);

        Assert.AreEqual(groups, result.Rewritten, string.Join("\n", result.Notes));
        var after = PassHarness.Bytes(model);
        var graph = model.Proto.Graph;
        CollectionAssert.AreEqual(inputsBefore, graph.Input.Select(i => i.ToString()).ToArray(), "graph inputs unchanged");
        CollectionAssert.AreEqual(outputsBefore, graph.Output.Select(o => o.ToString()).ToArray(), "graph outputs unchanged");
        Assert.AreEqual(nodesBefore + inserted, graph.Node.Count, "folded into the producer, or one Mul inserted per group");
        Assert.AreEqual(opset, model.Proto.OpsetImport.Single().Version, "opset never raised");
        Assert.IsTrue(result.Notes.Any(n => n.Contains("largest s") && n.Contains("channel")), string.Join("\n", result.Notes));

        var feeds = Feeds(before, seed: 5);
        double worst = AssertClose(before, after, feeds);
        TestContext.WriteLine($"{name}: {string.Join("; ", result.Notes)}; worst |Δ| / max|y| = {worst:G3}");
    }

    [TestMethod]
    public void WhenActivationHasAResidualReader_InsertedMulFeedsOnlyTheGroup_AndTheAddKeepsX()
    {
        using var temp = new TempFolder();
        var (model, context) = WithCalibration(Residual(), temp.Path);
        using var _ = model;
        var gammaBefore = model.Proto.Graph.Initializer.Single(t => t.Name == "gamma").RawData;

        PassHarness.Run(model, Pass, Args(), context);

        var graph = model.Proto.Graph;
        var mul = graph.Node.Single(n => n.OpType == "Mul");
        Assert.AreEqual("X", mul.Input[0]);
        var readers = graph.Node.Where(n => n.Input.Contains(mul.Output[0])).ToArray();
        CollectionAssert.AreEquivalent(new[] { "MatMul", "MatMul" }, readers.Select(n => n.OpType).ToArray());
        var add = graph.Node.Single(n => n.OpType == "Add");
        CollectionAssert.AreEqual(new[] { "X", "b" }, add.Input.ToArray(), "the residual Add reads X as it was");
        Assert.AreEqual(gammaBefore, graph.Initializer.Single(t => t.Name == "gamma").RawData, "γ is not folded when X has other readers");
    }

    // K = 3, W rows with max|W_j,:| = 4, 2, 0.25; calibration max|X_j| = 16, 0, 9 (the 9 from a −9).
    [TestMethod]
    [DataRow(0.5, 0.0, new float[] { 2, 1, 6 })]    // √16/√4, channel 1 never active, √9/√0.25
    [DataRow(0.0, 0.0, new float[] { 0.25f, 1, 4 })] // 1/max|W|
    [DataRow(1.0, 0.0, new float[] { 16, 1, 9 })]    // max|X|
    [DataRow(0.0, 1.0, new float[] { 1, 1, 4 })]     // min-scale 1: 0.25 raised to 1
    public void WhenMaximaAreKnown_ScalesAreTheFormulas(double alpha, double minScale, float[] expected)
    {
        using var temp = new TempFolder();
        float[] w = [4, -0.5f, 2, 0, 0.25f, -0.1f];
        var m = new TestModels(13).Input("x", 2, 3).Output("y", 2, 2);
        m.Graph.Initializer.Add(Tensor("W", [3, 2], w));
        m.Node("MatMul", ["x", "W"], ["y"]);
        var path = Path.Combine(temp.Path, "calibration.npy");
        NpyFile.Write(path, [16f, 0f, -9f, -1f, 0f, 2f], 2, 3);
        using var model = m.Build();

        var result = PassHarness.Run(model, Pass, Args(("alpha", alpha), ("min-scale", minScale)), new PassContext(null, path));

        Assert.AreEqual(1, result.Rewritten, string.Join("\n", result.Notes));
        var graph = model.Proto.Graph;
        var inverse = Floats(graph.Initializer.Single(t => t.Name == graph.Node.Single(n => n.OpType == "Mul").Input[1]));
        var scaled = Floats(graph.Initializer.Single(t => t.Name == "W"));
        for (int j = 0; j < 3; j++)
        {
            Assert.AreEqual(1 / expected[j], inverse[j], 1e-6 * inverse[j], $"1/s[{j}]");
            for (int n = 0; n < 2; n++) Assert.AreEqual(expected[j] * w[j * 2 + n], scaled[j * 2 + n], 1e-6, $"W'[{j}, {n}]");
        }
    }

    [TestMethod]
    public void WhenAWeightRowIsZero_ItsScaleIsOne()
    {
        using var temp = new TempFolder();
        float[] w = [1, 1, 0, 0, 2, -2];
        var m = new TestModels(13).Input("x", 2, 3).Output("y", 2, 2);
        m.Graph.Initializer.Add(Tensor("W", [3, 2], w));
        m.Node("MatMul", ["x", "W"], ["y"]);
        var path = Path.Combine(temp.Path, "calibration.npy");
        NpyFile.Write(path, [4f, 5f, 16f, 1f, 1f, 1f], 2, 3);
        using var model = m.Build();

        // The paper's α = 0.5 without a floor, so that s < 1 (channel 2) shows too.
        PassHarness.Run(model, Pass, Args(("alpha", 0.5), ("min-scale", 0.0)), new PassContext(null, path));

        var graph = model.Proto.Graph;
        var inverse = Floats(graph.Initializer.Single(t => t.Name == graph.Node.Single(n => n.OpType == "Mul").Input[1]));
        float[] expected = [0.5f, 1f, MathF.Sqrt(2) / 4]; // s = √4/√1, 1 (zero row), √16/√2
        for (int j = 0; j < 3; j++) Assert.AreEqual(expected[j], inverse[j], 1e-6, $"1/s[{j}]");
    }

    [TestMethod]
    public void WhenAWeightIsSharedByTwoActivations_ItIsLeftAloneWithANote()
    {
        using var temp = new TempFolder();
        var m = new TestModels(13).Input("x", Batch, K).Output("a", Batch, 8).Output("b", Batch, 8).Weight("W", [K, 8], 1);
        m.Node("MatMul", ["x", "W"], ["a"]).Node("Relu", ["x"], ["r"]).Node("MatMul", ["r", "W"], ["b"]);
        var (model, context) = WithCalibration(m, temp.Path);
        using var _ = model;
        var before = PassHarness.Bytes(model);

        var result = PassHarness.Run(model, Pass, Args(), context);

        Assert.AreEqual(0, result.Rewritten);
        Assert.IsTrue(result.Notes.Any(n => n.Contains("'W'") && n.Contains("shared")), string.Join("\n", result.Notes));
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenThereIsNoCalibrationData_EveryCandidateIsSkippedWithANote()
    {
        using var model = ReluGemm().Build();
        var before = PassHarness.Bytes(model);

        var result = PassHarness.Run(model, Pass, Args(), PassContext.None);

        Assert.AreEqual((1, 0), (result.Matched, result.Rewritten));
        Assert.AreEqual(1, result.Notes.Count(n => n.Contains("needs calibration data")), string.Join("\n", result.Notes));
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenRunTwice_TheBytesAreIdentical()
    {
        using var temp = new TempFolder();
        byte[] Once()
        {
            var (model, context) = WithCalibration(Residual(), temp.Path);
            using (model)
            {
                PassHarness.Run(model, Pass, Args(), context);
                return PassHarness.Bytes(model);
            }
        }
        CollectionAssert.AreEqual(Once(), Once());
    }

    // The outliers MiniLMQuantizationTests describes (post-attention LayerNorm feature 99 ≈ 30, GELU outputs ≈ 20–24, at
    // [CLS]) are what smoothing moves into the weights. Asserted: smoothing alone is exact in float (cosine ≥ 0.9999: only
    // float rounding), and at α = 0.8 (with and without min-scale 1) smoothing then quantize-dynamic is closer to fp32
    // than quantize-dynamic alone. α = 0.5 (the paper's default) is printed, not asserted: on MiniLM it does not help
    // (see eng/benchmarks/README.md).
    [TestMethod]
    public void WhenMiniLMIsSmoothedBeforeDynamicInt8_WorstSentenceEmbeddingIsCloserThanWithoutIt()
    {
        var fp32 = MiniLMQuantizationTests.Optimized(out _);
        using var temp = new TempFolder();
        var context = new PassContext(null, DataSource.PerInput(MiniLMQuantizationTests.WriteCalibration(temp.Path)));
        var plain = MiniLMQuantizationTests.Quantize(fp32, "quantize-dynamic", [], null).Bytes;
        double plainCosine = MiniLMQuantizationTests.Agreement(fp32, plain).Embedding;
        TestContext.WriteLine($"MiniLM quantize-dynamic alone: worst-sentence embedding cosine {plainCosine:F5}");
        foreach (var (alpha, minScale) in new[] { (0.5, 0.0), (0.5, 1.0), (0.8, 0.0), (0.8, 1.0) })
        {
            var (smoothed, result) = MiniLMQuantizationTests.Quantize(fp32, "smooth-activations", [new("alpha", alpha), new("min-scale", minScale)], context);
            double smoothedCosine = MiniLMQuantizationTests.Agreement(fp32, smoothed).Embedding;
            double cosine = MiniLMQuantizationTests.Agreement(fp32, MiniLMQuantizationTests.Quantize(smoothed, "quantize-dynamic", [], null).Bytes).Embedding;
            TestContext.WriteLine($"alpha {alpha}, min-scale {minScale}: {result.Rewritten} group(s) smoothed; smoothed alone {smoothedCosine:F6}; then quantize-dynamic {cosine:F5}");
            if (alpha == 0.8 && minScale == 1) foreach (var note in result.Notes) TestContext.WriteLine("  " + note);
            Assert.AreEqual(25, result.Rewritten, "every activation read by a MatMul/Gemm weight: Q/K/V, attention output, up, down × 6 layers, the pooler");
            Assert.IsTrue(smoothedCosine >= 0.9999, $"smoothing alone must be exact in float: {smoothedCosine:F6}");
            if (alpha == 0.8) Assert.IsTrue(cosine > plainCosine, $"alpha {alpha}, min-scale {minScale}: smoothed {cosine:F5} should beat plain {plainCosine:F5}");
        }
    }

    private static float[] Floats(TensorProto t) => MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();

    private static Dictionary<string, TensorValue> Feeds(byte[] model, int seed)
    {
        using var session = ModelSession.Open(model, "original");
        var input = session.Inputs[0];
        return new() { [input.Name] = TensorValue.FromFloats(Data((int)input.Shape.Aggregate(1L, (a, d) => a * d), (int)input.Shape[^1], seed, 2, 9), input.Shape) };
    }

    // Every output of `after` within RelativeTolerance · max|y| of `before`'s, at ORT_DISABLE_ALL and ORT_ENABLE_ALL;
    // returns the worst |Δ| / max|y|.
    private static double AssertClose(byte[] before, byte[] after, IReadOnlyDictionary<string, TensorValue> feeds)
    {
        double worst = 0;
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
            using var original = ModelSession.Open(before, "original", options);
            using var smoothed = ModelSession.Open(after, "smoothed", options);
            var names = original.Outputs.Select(o => o.Name).ToArray();
            var (expected, actual) = (original.Run(feeds, names), smoothed.Run(feeds, names));
            for (int o = 0; o < names.Length; o++)
            {
                var (e, a) = (expected[o].ToFloats(), actual[o].ToFloats());
                double largest = Math.Abs(TensorPrimitives.MaxMagnitude(e)), difference = 0;
                for (int i = 0; i < e.Length; i++) difference = Math.Max(difference, Math.Abs(e[i] - a[i]));
                Assert.IsTrue(largest > 0 && difference <= RelativeTolerance * largest,
                    $"{names[o]} at {level}: |Δ| {difference:G3} > {RelativeTolerance} · max|y| {largest:G3}");
                worst = Math.Max(worst, difference / largest);
            }
        }
        return worst;
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("ct-smooth-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
