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
public sealed class QuantizeWeightsInt8Tests
{
    private static readonly QuantizeWeightsInt8 Pass = new();

    // Tolerance: each dequantized weight is off by at most s/2 = max|w|/254. For weights uniform in [−1, 1) that is
    // a relative error of about (1/127)/√12 / (1/√3) ≈ 0.4% rms per weight, and the output error of one layer is a
    // sum of independent such errors, so outputs stay at a cosine of about 1 − 0.004²/2 ≈ 0.99999 per layer.
    // 0.999 leaves room for three layers and for asymmetric/per-tensor scales (up to 2× coarser).
    private const double MinCosine = 0.999;

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value)));

    // x ─MatMul(W1 [64,48])─ Gemm(W2 [32,48], b2, transB=1) ─ Gemm(W3 [32,16], b3) ─▶ y (Gemm's C is required before opset 11)
    private static TestModels Dense(long opset = 13, long ir = 8)
    {
        var m = new TestModels(opset, ir).Input("x", 4, 64).Output("y", 4, 16)
            .Weight("W1", [64, 48], 1).Weight("W2", [32, 48], 2).Weight("b2", [32], 3).Weight("W3", [32, 16], 4).Weight("b3", [16], 5);
        m.Node("MatMul", ["x", "W1"], ["h1"]).Node("Gemm", ["h1", "W2", "b2"], ["h2"], Int("transB", 1)).Node("Gemm", ["h2", "W3", "b3"], ["y"]);
        if (ir < 4) foreach (var t in m.Graph.Initializer) m.Graph.Input.Add(ValueInfo(t.Name, [.. t.Dims]));
        return m;
    }

    [TestMethod]
    [DataRow(true, true)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    [DataRow(false, false)]
    public void WhenDenseWeightsAreQuantized_StorageIsAQuarterAndOutputsAgree(bool perChannel, bool symmetric)
    {
        using var model = Dense().Build();
        var before = PassHarness.Bytes(model);
        long bytesBefore = PassManager.CountBytes(model);
        var result = PassHarness.Run(model, Pass, Args(("per-channel", perChannel), ("symmetric", symmetric), ("min-elements", 64)));

        Assert.AreEqual(3, result.Rewritten, "W1, W2, W3; the biases are never candidates");
        var graph = model.Proto.Graph;
        var dq = graph.Node.Where(n => n.OpType == "DequantizeLinear").ToDictionary(n => n.Output[0]);
        CollectionAssert.AreEquivalent(new[] { "W1", "W2", "W3" }, dq.Keys.ToArray());
        if (perChannel)
        {
            // MatMul: output columns (axis 1); Gemm transB=1: rows of B (axis 0); Gemm transB=0: columns (axis 1).
            Assert.AreEqual((1L, 0L, 1L), (dq["W1"].Attribute.Single().I, dq["W2"].Attribute.Single().I, dq["W3"].Attribute.Single().I));
        }
        else Assert.IsTrue(dq.Values.All(n => n.Attribute.Count == 0));
        Assert.AreEqual(symmetric ? 3 : 2, graph.Initializer.Single(t => t.Name == "W1_quantized").DataType, "int8 or uint8");
        Assert.AreEqual(1, graph.Initializer.Single(t => t.Name == "b2").DataType);

        // 4 bytes per weight become 1, plus a float scale and a one-byte zero point per channel.
        long channels = perChannel ? 48 + 32 + 16 : 3;
        long weights = 64 * 48 + 32 * 48 + 32 * 16, bias = (32 + 16) * 4;
        Assert.AreEqual(bytesBefore, 4 * weights + bias);
        Assert.AreEqual(weights + 5 * channels + bias, PassManager.CountBytes(model));
        TestContext.WriteLine($"weights {4 * weights} → {weights + 5 * channels} bytes ({4.0 * weights / (weights + 5 * channels):F2}×)");
        AssertCosine(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenConvWeightIsQuantized_ChannelsAreOnAxis0()
    {
        var m = new TestModels().Input("x", 1, 3, 8, 8).Output("y", 1, 8, 6, 6).Weight("W", [8, 3, 3, 3], 1).Weight("b", [8], 2);
        m.Node("Conv", ["x", "W", "b"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Args(("min-elements", 100))).Rewritten);
        var dq = model.Proto.Graph.Node.Single(n => n.OpType == "DequantizeLinear");
        Assert.AreEqual(0, dq.Attribute.Single(a => a.Name == "axis").I);
        CollectionAssert.AreEqual(new long[] { 8 }, model.Proto.Graph.Initializer.Single(t => t.Name == dq.Input[1]).Dims.ToArray());
        AssertCosine(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenWeightIsSmallerThanMinElements_ItStaysFloat32()
    {
        using var model = Dense().Build();
        var result = PassHarness.Run(model, Pass, Args(("min-elements", 1024)));
        Assert.AreEqual(2, result.Rewritten, "W1 (3072) and W2 (1536); W3 has 512");
        StringAssert.Contains(string.Join("\n", result.Notes), "'W3' has 512 elements");
    }

    [TestMethod]
    [DataRow(9L, true, "opset 9 has no DequantizeLinear")]
    [DataRow(11L, true, "opset 11 has no per-axis DequantizeLinear")]
    public void WhenOpsetIsTooLow_EveryCandidateIsSkippedAndTheOpsetStays(long opset, bool perChannel, string reason)
    {
        using var model = Dense(opset).Build();
        var result = PassHarness.Run(model, Pass, Args(("per-channel", perChannel), ("min-elements", 64)));
        Assert.AreEqual((0, 3), (result.Rewritten, result.Skipped));
        Assert.IsTrue(result.Notes.All(n => n.Contains(reason, StringComparison.Ordinal)), string.Join("\n", result.Notes));
        Assert.AreEqual(opset, model.Proto.OpsetImport.Single().Version);
        Assert.IsFalse(model.Proto.Graph.Node.Any(n => n.OpType == "DequantizeLinear"));
    }

    [TestMethod]
    public void WhenOpsetIs10AndPerTensor_WeightsAreQuantized()
    {
        using var model = Dense(opset: 10).Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(3, PassHarness.Run(model, Pass, Args(("per-channel", false), ("min-elements", 64))).Rewritten);
        Assert.AreEqual(10, model.Proto.OpsetImport.Single().Version);
        AssertCosine(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenWeightIsShared_OneDequantizeServesEveryReaderAndGraphOutputsStay()
    {
        // W feeds two MatMuls, a non-target Mul, and is itself a graph output.
        var m = new TestModels().Input("x", 4, 64).Output("y", 4, 48).Output("sq", 64, 48).Output("W", 64, 48).Weight("W", [64, 48], 1);
        m.Node("MatMul", ["x", "W"], ["a"]).Node("Relu", ["x"], ["r"]).Node("MatMul", ["r", "W"], ["b"])
            .Node("Add", ["a", "b"], ["y"]).Node("Mul", ["W", "W"], ["sq"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Args(("min-elements", 64)));
        Assert.AreEqual((1, 1), (result.Matched, result.Rewritten));
        var graph = model.Proto.Graph;
        Assert.AreEqual(1, graph.Node.Count(n => n.OpType == "DequantizeLinear"));
        Assert.AreEqual(4, graph.Node.Sum(n => n.Input.Count(i => i == "W")), "two MatMul reads and two Mul reads");
        CollectionAssert.AreEqual(new[] { "y", "sq", "W" }, graph.Output.Select(o => o.Name).ToArray());
        AssertCosine(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenModelIsIrVersion3_GraphInputsFollowTheInitializers()
    {
        using var model = Dense(opset: 13, ir: 3).Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(3, PassHarness.Run(model, Pass, Args(("min-elements", 64))).Rewritten);
        var graph = model.Proto.Graph;
        CollectionAssert.AreEquivalent(new[] { "x" }.Concat(graph.Initializer.Select(t => t.Name)).ToArray(), graph.Input.Select(i => i.Name).ToArray());
        Assert.IsFalse(graph.Input.Any(i => i.Name is "W1" or "W2" or "W3"), "the float weights are node outputs now");
        AssertCosine(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenWeightsLiveInOrAboveSubgraphs_EachIsDequantizedWhereItIsDefined()
    {
        // If(cond): then reads its own Wt, else reads the main graph's Wo.
        var then = new GraphProto { Name = "then" };
        var otherwise = new GraphProto { Name = "else" };
        var m = new TestModels().Input("x", 4, 64).Output("y", 4, 32).Weight("Wo", [64, 32], 2).Weight(then, "Wt", [64, 32], 1);
        m.Graph.Input.Add(ValueInfo("cond", [], elementType: 9));
        m.Node(then, "MatMul", ["x", "Wt"], ["yt"]).Node(otherwise, "MatMul", ["x", "Wo"], ["ye"]);
        then.Output.Add(ValueInfo("yt", [4, 32]));
        otherwise.Output.Add(ValueInfo("ye", [4, 32]));
        m.Node("If", ["cond"], ["y"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(2, PassHarness.Run(model, Pass, Args(("min-elements", 64))).Rewritten);

        var main = model.Proto.Graph;
        var branches = main.Node.Single(n => n.OpType == "If").Attribute.ToDictionary(a => a.Name, a => a.G);
        Assert.AreEqual("Wo", main.Node.Single(n => n.OpType == "DequantizeLinear").Output[0]);
        Assert.AreEqual("Wt", branches["then_branch"].Node.Single(n => n.OpType == "DequantizeLinear").Output[0]);
        Assert.IsTrue(branches["then_branch"].Initializer.Any(t => t.Name == "Wt_quantized"));
        foreach (var cond in new[] { true, false })
            AssertCosine(before, PassHarness.Bytes(model), new Dictionary<string, TensorValue> { ["cond"] = new(9, [], [(byte)(cond ? 1 : 0)]) });
    }

    [TestMethod]
    public void WhenReadersWantDifferentAxes_OneScalePerTensorIsUsed()
    {
        // MatMul wants W's columns (axis 1), Gemm with transB=1 its rows (axis 0).
        var m = new TestModels().Input("x", 4, 32).Output("a", 4, 32).Output("b", 4, 32).Weight("W", [32, 32], 1);
        m.Node("MatMul", ["x", "W"], ["a"]).Node("Gemm", ["x", "W"], ["b"], Int("transB", 1));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Args(("min-elements", 64)));
        Assert.AreEqual(1, result.Rewritten);
        StringAssert.Contains(result.Notes.Single(), "one scale per tensor");
        Assert.AreEqual(0, model.Proto.Graph.Node.Single(n => n.OpType == "DequantizeLinear").Attribute.Count);
        AssertCosine(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenWeightIsAConstantNode_TheDequantizeTakesItsPlace()
    {
        var m = new TestModels().Input("x", 4, 64).Output("y", 4, 32);
        var random = new Random(7);
        m.Node("Constant", [], ["W"], new AttributeProto
        {
            Name = "value", Type = AttributeProto.Types.AttributeType.Tensor,
            T = Tensor("", [64, 32], Enumerable.Range(0, 64 * 32).Select(_ => random.NextSingle() - 0.5f).ToArray()),
        });
        m.Node("MatMul", ["x", "W"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Args(("min-elements", 64))).Rewritten);
        CollectionAssert.AreEqual(new[] { "DequantizeLinear", "MatMul" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        AssertCosine(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenRunTwice_TheSecondRunFindsNothing()
    {
        using var model = Dense().Build();
        Assert.AreEqual(3, PassHarness.Run(model, Pass, Args(("min-elements", 64))).Rewritten);
        var again = PassHarness.Run(model, Pass, Args(("min-elements", 64)));
        Assert.AreEqual((0, 0), (again.Matched, again.Rewritten), "dequantized weights are computed values, not constants");
    }

    [TestMethod]
    public void WhenMnistMlpIsQuantized_SizeIsAQuarterAndTop1DropsAtMostOnePoint()
    {
        var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = Path.Combine(Path.GetDirectoryName(path)!, "data");
        using var model = OnnxModel.Load(path);
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(3, result.Rewritten, "fc1, fc2, fc3 weights");
        var after = PassHarness.Bytes(model);

        var labels = FeedLoader.LoadLabels(Path.Combine(data, "test_labels.npy"));
        double original = Top1(before, Path.Combine(data, "test_images.npy"), labels, out int rows);
        double quantized = Top1(after, Path.Combine(data, "test_images.npy"), labels, out _);
        double ratio = (double)before.Length / after.Length;
        TestContext.WriteLine($"mnist-mlp: {before.Length:N0} → {after.Length:N0} bytes ({ratio:F2}×); top-1 on {rows} test images: {original:P2} → {quantized:P2}");
        Assert.AreEqual(1000, rows);
        Assert.IsTrue(ratio > 3.5, $"ratio {ratio:F2}");
        Assert.IsTrue(original - quantized <= 0.01, $"top-1 {original:P2} → {quantized:P2}");

        var (exit, text) = PythonOnnx.CheckModel(after);
        Assert.AreEqual(0, exit, $"onnx.checker rejected the quantized model: {text}");
    }

    // TeacherHarness.Top1 fails unless every label was scored, so the row count is the label count.
    private static double Top1(byte[] model, string images, long[] labels, out int rows)
    {
        rows = labels.Length;
        return TeacherHarness.Top1(model, images, labels);
    }

    // Every output's cosine to the original's, with ORT's optimizations off and on, over two seeded inputs.
    private static void AssertCosine(byte[] before, byte[] after, IReadOnlyDictionary<string, TensorValue>? fixedInputs = null)
    {
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
            using var original = ModelSession.Open(before, "original", options);
            using var rewritten = ModelSession.Open(after, "rewritten", options);
            for (int seed = 0; seed < 2; seed++)
            {
                var feeds = InputGenerator.Generate(original.Inputs, null, seed);
                foreach (var (name, value) in fixedInputs ?? new Dictionary<string, TensorValue>()) feeds[name] = value;
                var expected = original.Run(feeds);
                var actual = rewritten.Run(feeds, original.Outputs.Select(o => o.Name).ToArray());
                for (int o = 0; o < expected.Count; o++)
                {
                    CollectionAssert.AreEqual(expected[o].Shape, actual[o].Shape);
                    double cosine = System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(
                        expected[o].ToFloats().Select(v => (double)v).ToArray(), actual[o].ToFloats().Select(v => (double)v).ToArray());
                    Assert.IsTrue(cosine >= MinCosine, $"output {original.Outputs[o].Name} at {level}: cosine {cosine:F6}");
                }
            }
        }
    }
}
