using CompressTasks.Kernels;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Fusion;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.TestSupport;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Quantization;

[TestClass]
public sealed class QuantizeWeightsInt4Tests
{
    private static readonly QuantizeWeightsInt4 Pass = new();

    // Against the float original: each 4-bit weight is off by at most s/2 = max|w|/14 per block, for weights uniform
    // in [−1, 1) an rms error of (1/7)/√12 ≈ 0.041 against an rms weight of 1/√3 ≈ 0.58, about 7% relative; a
    // layer's output is a sum of many such independent errors, so its cosine is about 1 − 0.07²/2 ≈ 0.9975. Three
    // layers compound to about 0.993; 0.99 leaves room for asymmetric blocks (range/15, as coarse).
    private const double MinCosine = 0.99;

    // Against a float model holding the dequantized weights themselves: the same products, only summed in another
    // order (and through ONNX Runtime's own 4-bit kernel), so float32 rounding only (outputs are O(50) here).
    private const double ExactRtol = 1e-4, ExactAtol = 1e-4;

    // At optimization All, ONNX Runtime fuses DequantizeLinear(int4, block_size) + MatMul (not Gemm) into MatMulNBits with
    // accuracy level 4 (its session option session.qdq_matmulnbits_accuracy_level defaults to 4): A is quantized to
    // int8 per block inside the kernel (the test checks ORT did so), each activation off by up to 1/254 of its
    // block's largest, an rms of about 0.1% of the activations' scale that adds up over three layers. 1% of the
    // output's largest magnitude bounds it with room; the measured worst differences are printed.
    private const double Int8ActivationRtol = 1e-2;

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value)));

    // x [4, 96] ─MatMul(W1 [96, 40])─ Gemm(W2 [48, 40], b2 [48], transB = 1) ─ Gemm(W3 [48, 16], b3 [1, 16]) ─▶ y.
    // W1: K = 96 is three blocks of 32 (an odd count: zero points pad per row); W3: K = 48 pads its second block.
    private static TestModels Dense(long opset = 13)
    {
        var m = new TestModels(opset).Input("x", 4, 96).Output("y", 4, 16)
            .Weight("W1", [96, 40], 1).Weight("W2", [48, 40], 2).Weight("b2", [48], 3).Weight("W3", [48, 16], 4).Weight("b3", [1, 16], 5);
        m.Node("MatMul", ["x", "W1"], ["h1"]).Node("Gemm", ["h1", "W2", "b2"], ["h2"], Int("transB", 1)).Node("Gemm", ["h2", "W3", "b3"], ["y"]);
        return m;
    }

    private static readonly (string Name, int KAxis)[] DenseWeights = [("W1", 0), ("W2", 1), ("W3", 0)];

    [TestMethod]
    [DataRow(true, 32)]
    [DataRow(false, 32)]
    [DataRow(false, 16)]
    [DataRow(true, 64)]
    public void WhenFormatIsMatMulNBits_OrtComputesExactlyTheDequantizedWeights(bool symmetric, int blockSize)
    {
        using var model = Dense().Build();
        var before = PassHarness.Bytes(model);
        var reference = Reference(before, DenseWeights, blockSize, symmetric);
        var result = PassHarness.Run(model, Pass, Args(("symmetric", symmetric), ("block-size", blockSize), ("min-elements", 64)));

        Assert.AreEqual(3, result.Rewritten, string.Join("\n", result.Notes));
        var graph = model.Proto.Graph;
        CollectionAssert.AreEqual(new[] { "MatMulNBits", "MatMulNBits", "MatMulNBits", "Add" }, graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual(1, model.Proto.OpsetImport.Single(o => o.Domain == "com.microsoft").Version);
        var first = graph.Node[0];
        var attributes = first.Attribute.ToDictionary(a => a.Name, a => a.I);
        Assert.AreEqual((96L, 40L, 4L, (long)blockSize), (attributes["K"], attributes["N"], attributes["bits"], attributes["block_size"]));
        int blocks = (96 + blockSize - 1) / blockSize;
        var init = graph.Initializer.ToDictionary(t => t.Name);
        CollectionAssert.AreEqual(new long[] { 40, blocks, blockSize / 2 }, init[first.Input[1]].Dims.ToArray());
        CollectionAssert.AreEqual(new long[] { 40, blocks }, init[first.Input[2]].Dims.ToArray());
        if (symmetric) Assert.AreEqual(3, first.Input.Count, "zero point 8 is MatMulNBits' default");
        else CollectionAssert.AreEqual(new long[] { 40, (blocks + 1) / 2 }, init[first.Input[3]].Dims.ToArray());
        Assert.AreEqual("b2", graph.Node[1].Input[5], "a 1-D Gemm C is MatMulNBits' bias");
        Assert.IsFalse(graph.Initializer.Any(t => t.Name is "W1" or "W2" or "W3"));

        PassHarness.AssertSameOutputs(reference, PassHarness.Bytes(model), rtol: ExactRtol, atol: ExactAtol);
        double cosine = QuantizationAssert.Cosine(before, PassHarness.Bytes(model), MinCosine);
        TestContext.WriteLine($"matmul-nbits symmetric {symmetric} B {blockSize}: {before.Length:N0} → {PassHarness.Bytes(model).Length:N0} bytes; cosine to float {cosine:F5}");
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenFormatIsDequantizeLinear_Int4TensorsFeedTheUnchangedMatMuls(bool symmetric)
    {
        using var model = Dense(opset: 21).Build();
        var before = PassHarness.Bytes(model);
        var reference = Reference(before, DenseWeights, 32, symmetric);
        var result = PassHarness.Run(model, Pass, Args(("symmetric", symmetric), ("format", "dequantize-linear"), ("min-elements", 64)));

        Assert.AreEqual(3, result.Rewritten, string.Join("\n", result.Notes));
        var graph = model.Proto.Graph;
        var init = graph.Initializer.ToDictionary(t => t.Name);
        var dq = graph.Node.Where(n => n.OpType == "DequantizeLinear").ToDictionary(n => n.Output[0]);
        foreach (var (name, axis) in DenseWeights)
        {
            var node = dq[name];
            var attributes = node.Attribute.ToDictionary(a => a.Name, a => a.I);
            Assert.AreEqual(((long)axis, 32L), (attributes["axis"], attributes["block_size"]));
            var q = init[node.Input[0]];
            Assert.AreEqual(symmetric ? 22 : 21, q.DataType, "int4 or uint4");
            long elements = q.Dims.Aggregate(1L, (a, d) => a * d);
            Assert.AreEqual((elements + 1) / 2, q.RawData.Length, "two values per byte");
            var scaleDims = init[node.Input[1]].Dims.ToArray();
            Assert.AreEqual((q.Dims[axis] + 31) / 32, scaleDims[axis], "one scale per block along K");
            Assert.AreEqual(q.Dims[1 - axis], scaleDims[1 - axis]);
            Assert.AreEqual(symmetric ? 2 : 3, node.Input.Count);
        }
        CollectionAssert.AreEqual(new[] { "MatMul", "Gemm", "Gemm" }, graph.Node.Where(n => n.OpType != "DequantizeLinear").Select(n => n.OpType).ToArray());
        Assert.IsFalse(model.Proto.OpsetImport.Any(o => o.Domain == "com.microsoft"));

        var after = PassHarness.Bytes(model);
        double exact = QuantizationAssert.Close(reference, after, Runtime.OptimizationLevel.Disabled, ExactRtol, ExactAtol);
        double fused = QuantizationAssert.Close(reference, after, Runtime.OptimizationLevel.All, Int8ActivationRtol, ExactAtol, relativeToLargest: true);
        var optimized = Path.Combine(Path.GetTempPath(), $"ct-int4-ort-{Guid.NewGuid():N}.onnx");
        try
        {
            using (Runtime.ModelSession.Open(after, "optimized", new Runtime.RuntimeOptions { OptimizedModelPath = optimized })) { }
            var nodes = ModelProto.Parser.ParseFrom(File.ReadAllBytes(optimized)).Graph.Node;
            var levels = nodes.Where(n => n.OpType == "MatMulNBits").Select(n => n.Attribute.SingleOrDefault(a => a.Name == "accuracy_level")?.I ?? 0).ToArray();
            TestContext.WriteLine($"ORT at All runs: {string.Join(", ", nodes.Select(n => n.OpType))}; MatMulNBits accuracy levels {string.Join(", ", levels)}");
            // ONNX Runtime 1.31 fuses DequantizeLinear + MatMul only; the Gemms keep a DequantizeLinear and float compute.
            CollectionAssert.AreEqual(new long[] { 4 }, levels, "ORT fuses the DequantizeLinear + MatMul into MatMulNBits with int8 activations");
        }
        finally
        {
            File.Delete(optimized);
        }
        double cosine = QuantizationAssert.Cosine(before, after, MinCosine);
        TestContext.WriteLine($"dequantize-linear symmetric {symmetric}: {before.Length:N0} → {after.Length:N0} bytes; max |y − y_dequantized| {exact:G3} (ORT optimizations off), {fused:G3} (All, fused); cosine to float {cosine:F5}");
    }

    [TestMethod]
    public void WhenDequantizeLinearFormatMeetsOpsetBelow21_EveryWeightIsSkippedAndTheOpsetStays()
    {
        using var model = Dense(opset: 13).Build();
        var result = PassHarness.Run(model, Pass, Args(("format", "dequantize-linear"), ("min-elements", 64)));
        Assert.AreEqual((0, 3), (result.Rewritten, result.Skipped));
        Assert.IsTrue(result.Notes.All(n => n.Contains("opset 13 has no int4 DequantizeLinear", StringComparison.Ordinal)), string.Join("\n", result.Notes));
        Assert.AreEqual(13, model.Proto.OpsetImport.Single().Version);
    }

    [TestMethod]
    public void WhenBlockSizeIsNotAPowerOfTwo_WeightsAreSkipped()
    {
        using var model = Dense().Build();
        var result = PassHarness.Run(model, Pass, Args(("block-size", 48), ("min-elements", 64)));
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes[0], "block-size 48 is not a power of two");
    }

    [TestMethod]
    public void WhenWeightIsSharedByTwoMatMuls_BothReadOneQuantizedCopy()
    {
        var m = new TestModels().Input("x", 4, 64).Output("y", 4, 32).Weight("W", [64, 32], 1);
        m.Node("MatMul", ["x", "W"], ["a"]).Node("Relu", ["x"], ["r"]).Node("MatMul", ["r", "W"], ["b"]).Node("Add", ["a", "b"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var reference = Reference(before, [("W", 0)], 32, true);
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Args(("min-elements", 64))).Rewritten);
        var fused = model.Proto.Graph.Node.Where(n => n.OpType == "MatMulNBits").ToArray();
        Assert.HasCount(2, fused);
        Assert.AreEqual((fused[0].Input[1], fused[0].Input[2]), (fused[1].Input[1], fused[1].Input[2]));
        Assert.HasCount(2, model.Proto.Graph.Initializer);
        PassHarness.AssertSameOutputs(reference, PassHarness.Bytes(model), rtol: ExactRtol, atol: ExactAtol);
    }

    [TestMethod]
    public void WhenWeightIsAlsoReadByANonMatMulOrIsAnOutput_ItStaysFloat()
    {
        var m = new TestModels().Input("x", 4, 64).Output("y", 4, 32).Output("sq", 64, 32).Output("V", 64, 32).Weight("W", [64, 32], 1).Weight("V", [64, 32], 2);
        m.Node("MatMul", ["x", "W"], ["a"]).Node("MatMul", ["x", "V"], ["b"]).Node("Add", ["a", "b"], ["y"]).Node("Mul", ["W", "W"], ["sq"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass, Args(("min-elements", 64)));
        Assert.AreEqual((2, 0, 2), (result.Matched, result.Rewritten, result.Skipped));
        Assert.IsTrue(result.Notes.All(n => n.Contains("also read by other nodes or is a graph output", StringComparison.Ordinal)), string.Join("\n", result.Notes));
        CollectionAssert.AreEquivalent(new[] { "W", "V" }, model.Proto.Graph.Initializer.Select(t => t.Name).ToArray());
    }

    [TestMethod]
    public void WhenWeightsLiveInOrAboveSubgraphs_EachBranchReadsItsQuantizedCopy()
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

        var branches = model.Proto.Graph.Node.Single(n => n.OpType == "If").Attribute.ToDictionary(a => a.Name, a => a.G);
        Assert.AreEqual("MatMulNBits", branches["else_branch"].Node.Single().OpType);
        Assert.IsTrue(model.Proto.Graph.Initializer.Any(t => t.Name == branches["else_branch"].Node.Single().Input[1]), "Wo's copy stays in the main graph");
        Assert.IsTrue(branches["then_branch"].Initializer.Any(t => t.Name == branches["then_branch"].Node.Single().Input[1]));
        foreach (var cond in new[] { true, false })
            QuantizationAssert.Cosine(before, PassHarness.Bytes(model), MinCosine, new Dictionary<string, TensorValue> { ["cond"] = new(9, [], [(byte)(cond ? 1 : 0)]) });
    }

    [TestMethod]
    public void WhenWeightIsAConstantNode_ItIsReplaced()
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
        CollectionAssert.AreEqual(new[] { "MatMulNBits" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        QuantizationAssert.Cosine(before, PassHarness.Bytes(model), MinCosine);
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void WhenMnistMlpIsQuantized_ItIsAboutAnEighthAndTop1DropsAtMostOnePoint(bool gemm)
    {
        // gemm: after fuse-matmul-add (what the int4 preset runs first), the layers are Gemm with a bias.
        using var model = OnnxModel.Load(TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx"));
        var before = PassHarness.Bytes(model);
        if (gemm) Assert.AreEqual(3, PassHarness.Run(model, new FuseMatMulAdd()).Rewritten);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(3, result.Rewritten, string.Join("\n", result.Notes));
        var after = PassHarness.Bytes(model);
        var ops = model.Proto.Graph.Node.Select(n => n.OpType).ToArray();
        Assert.AreEqual(3, ops.Count(o => o == "MatMulNBits"));
        Assert.AreEqual(gemm ? 0 : 3, ops.Count(o => o == "Add"), "from Gemm the biases are MatMulNBits' bias input");
        Assert.IsFalse(ops.Any(o => o is "MatMul" or "Gemm"));

        double original = QuantizationAssert.MnistTop1(before), quantized = QuantizationAssert.MnistTop1(after);
        double disabled = QuantizationAssert.MnistTop1(after, Runtime.OptimizationLevel.Disabled);
        double ratio = (double)before.Length / after.Length;
        TestContext.WriteLine($"mnist-mlp int4 (B 32, symmetric{(gemm ? ", from Gemm" : "")}): {before.Length:N0} → {after.Length:N0} bytes ({ratio:F2}×); top-1 {original:P1} → {quantized:P1} (ORT optimizations off: {disabled:P1})");
        // 4 bits plus a float32 scale per 32 weights is 5 bits per weight, 32/5 = 6.4× on the weights (K = 784 pads
        // the last of 25 blocks by 16); the biases stay float32.
        Assert.IsTrue(ratio > 6.0, $"ratio {ratio:F2}");
        Assert.IsTrue(original - quantized <= 0.01, $"top-1 {original:P1} → {quantized:P1}");
        Assert.AreEqual(quantized, disabled, 0.002, "the fused kernel and the unfused graph agree");
        QuantizationAssert.Checker(after);
    }

    // The original model with each named weight replaced by its 4-bit dequantized values, as float32.
    private static byte[] Reference(byte[] original, (string Name, int KAxis)[] weights, int blockSize, bool symmetric)
    {
        var proto = ModelProto.Parser.ParseFrom(original);
        foreach (var (name, kAxis) in weights)
        {
            var tensor = proto.Graph.Initializer.Single(t => t.Name == name);
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray();
            int k = (int)tensor.Dims[kAxis], n = (int)tensor.Dims[1 - kAxis];
            var rows = values;
            if (kAxis == 0) Int4Quantization.Transpose<float>(values, k, n, rows = new float[values.Length]);
            int count = n * Int4Quantization.BlockCount(k, blockSize);
            var (scales, zero, codes) = (new float[count], new byte[count], new byte[values.Length]);
            Int4Quantization.ComputeParameters(rows, n, k, blockSize, symmetric, scales, zero);
            Int4Quantization.Quantize(rows, n, k, blockSize, scales, zero, codes);
            Int4Quantization.Dequantize(codes, n, k, blockSize, scales, zero, rows);
            if (kAxis == 0) Int4Quantization.Transpose<float>(rows, n, k, values);
            else values = rows;
            tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        return proto.ToByteArray();
    }
}
