using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Quantization;

/// <summary>quantize-int4 with <c>conv-blocks: input-channels</c>: Conv kernels in blocks of input channels at each kernel position.</summary>
[TestClass]
public sealed class Int4ConvBlocksTests
{
    private static readonly QuantizeWeightsInt4 Pass = new();

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, new (string Name, object Value)[] { ("format", "dequantize-linear"), ("op-types", new[] { "Conv" }), ("min-elements", 64) }
            .Concat(values).Select(v => new KeyValuePair<string, object>(v.Name, v.Value)));

    // x [2, C, 6, 6] ─Conv(W [M, C/g, 3, 3], b, pads 1, group g)─▶ y [2, M, 6, 6]. Each input channel's weights are
    // scaled by its own factor in [0.05, 1], as trained kernels vary by channel: the case blocks are for.
    private static OnnxModel Conv(int channels, int groups, int m = 8, long opset = 21)
    {
        var model = new TestModels(opset, irVersion: 10).Input("x", 2, channels, 6, 6).Output("y", 2, m, 6, 6).Weight("b", [m], 3);
        int perGroup = channels / groups;
        var random = new Random(channels * 31 + groups);
        var gain = Enumerable.Range(0, perGroup).Select(_ => 0.05f + 0.95f * random.NextSingle()).ToArray();
        var w = new float[m * perGroup * 9];
        for (int i = 0; i < w.Length; i++) w[i] = (random.NextSingle() * 2 - 1) * gain[i / 9 % perGroup];
        model.Graph.Initializer.Add(Tensor("W", [m, perGroup, 3, 3], w));
        model.Node("Conv", ["x", "W", "b"], ["y"], Ints("pads", 1, 1, 1, 1), Int("group", groups));
        return model.Build();
    }

    // Round to nearest: the stored codes and scales (read back from the file) dequantize to within s/2 of every
    // weight, and ONNX Runtime computes exactly the Conv over those dequantized values at both levels.
    [TestMethod]
    [DataRow(true, 1, 40, 16)]   // C/g = 40: blocks 16, 16, 8 (the last padded)
    [DataRow(false, 1, 32, 16)]  // C/g = 32: two full blocks
    [DataRow(true, 2, 48, 16)]   // grouped, C/g = 24: blocks 16, 8
    [DataRow(false, 2, 64, 32)]  // grouped, C/g = 32: one full block
    [DataRow(false, 4, 40, 16)]  // grouped, C/g = 10 < B: one short block per position
    public void WhenConvBlocksAreInputChannels_StoredCodesTimesScalesAreWithinHalfAScaleAndOrtComputesThem(bool symmetric, int groups, int channels, int block)
    {
        using var model = Conv(channels, groups);
        var before = PassHarness.Bytes(model);
        var original = MemoryMarshal.Cast<byte, float>(model.Proto.Graph.Initializer.Single(t => t.Name == "W").RawData.Span).ToArray();
        var result = PassHarness.Run(model, Pass, Args(("conv-blocks", "input-channels"), ("block-size", block), ("symmetric", symmetric)));
        Assert.AreEqual((1, 1), (result.Matched, result.Rewritten), string.Join("\n", result.Notes));

        int perGroup = channels / groups, blocks = (perGroup + block - 1) / block, m = 8;
        var graph = model.Proto.Graph;
        var dq = graph.Node.Single(n => n.OpType == "DequantizeLinear");
        var attributes = dq.Attribute.ToDictionary(a => a.Name, a => a.I);
        Assert.AreEqual((1L, (long)block), (attributes["axis"], attributes["block_size"]));
        var init = graph.Initializer.ToDictionary(t => t.Name);
        var q = init[dq.Input[0]];
        Assert.AreEqual(symmetric ? 22 : 21, q.DataType, "int4 or uint4");
        CollectionAssert.AreEqual(new long[] { m, perGroup, 3, 3 }, q.Dims.ToArray());
        CollectionAssert.AreEqual(new long[] { m, blocks, 3, 3 }, init[dq.Input[1]].Dims.ToArray(), "scales [M, ⌈(C/g)/B⌉, kH, kW]");
        Assert.AreEqual(symmetric ? 2 : 3, dq.Input.Count);
        if (!symmetric) CollectionAssert.AreEqual(new long[] { m, blocks, 3, 3 }, init[dq.Input[2]].Dims.ToArray());

        var codes = Unpack(q, original.Length);
        var scales = MemoryMarshal.Cast<byte, float>(init[dq.Input[1]].RawData.Span).ToArray();
        var zero = symmetric ? new int[scales.Length] : Unpack(init[dq.Input[2]], scales.Length);
        var dequantized = new float[original.Length];
        double worst = 0, bound = 0;
        for (int o = 0; o < m; o++)
        {
            double sum = 0; // Σ s/2 over the channel's K weights: |Δy| ≤ Σ |x|·|Δw| with inputs in [0, 1)
            for (int c = 0; c < perGroup; c++)
                for (int t = 0; t < 9; t++)
                {
                    int at = (o * perGroup + c) * 9 + t, p = (o * blocks + c / block) * 9 + t;
                    dequantized[at] = (codes[at] - zero[p]) * scales[p];
                    double error = Math.Abs(dequantized[at] - original[at]);
                    Assert.IsTrue(error <= scales[p] / 2 * (1 + 1e-5), $"W[{o}, {c}, {t / 3}, {t % 3}]: |{dequantized[at]} − {original[at]}| > s/2 = {scales[p] / 2}");
                    worst = Math.Max(worst, error / scales[p]);
                    sum += scales[p] / 2;
                }
            bound = Math.Max(bound, sum);
        }

        var reference = ModelProto.Parser.ParseFrom(before);
        reference.Graph.Initializer.Single(t => t.Name == "W").RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(dequantized.AsSpan()));
        var after = PassHarness.Bytes(model);
        // Against the float Conv over the dequantized values: the same products summed in another order (outputs O(10)).
        PassHarness.AssertSameOutputs(reference.ToByteArray(), after, rtol: 1e-4, atol: 1e-4);
        // Against the original: at most Σ s/2 per output, the worst case of the per-weight bound.
        double disabled = QuantizationAssert.Close(before, after, OptimizationLevel.Disabled, 0, bound);
        double all = QuantizationAssert.Close(before, after, OptimizationLevel.All, 0, bound);
        // No onnx.checker here: the system python3-onnx (1.12) knows IR 8 and opset 17, not int4 or opset 21.
        TestContext.WriteLine($"symmetric {symmetric}, group {groups}, C/g {perGroup}, B {block}: max |w' − w| / s {worst:F3}; max |Δy| vs fp32 {disabled:G3} (Disabled), {all:G3} (All), bound Σ s/2 {bound:G3}");
    }

    // Blocks of input channels against one scale per output channel on the same kernels (whose channels differ in
    // range): a smaller output error, and the default is per-channel, byte for byte as conv-blocks: per-channel.
    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenConvBlocksAreInputChannels_OutputErrorIsBelowPerChannelWhichStaysTheDefault(bool symmetric)
    {
        byte[] Quantize(params (string, object)[] extra)
        {
            using var model = Conv(64, 1);
            var result = PassHarness.Run(model, Pass, Args([("symmetric", symmetric), .. extra]));
            Assert.AreEqual(1, result.Rewritten, string.Join("\n", result.Notes));
            return PassHarness.Bytes(model);
        }
        byte[] before;
        using (var model = Conv(64, 1)) before = PassHarness.Bytes(model);
        var byDefault = Quantize();
        CollectionAssert.AreEqual(byDefault, Quantize(("conv-blocks", "per-channel")), "per-channel is the default");
        using (var m = OnnxModel.Parse(byDefault))
            Assert.AreEqual("axis=0", string.Join(",", m.Proto.Graph.Node.Single(n => n.OpType == "DequantizeLinear").Attribute.Select(a => $"{a.Name}={a.I}")));
        var blocked = Quantize(("conv-blocks", "input-channels"), ("block-size", 16));
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            double perChannel = RelativeError(before, byDefault, level), blocks = RelativeError(before, blocked, level);
            TestContext.WriteLine($"symmetric {symmetric}, {level}: relative output MSE per-channel {perChannel:E3}, input-channel blocks of 16 {blocks:E3}");
            Assert.IsTrue(blocks < perChannel, $"{level}: blocks {blocks} vs per-channel {perChannel}");
        }
    }

    [TestMethod]
    public void WhenFormatIsMatMulNBitsOrOpsetBelow21_BlockedConvKernelsAreSkipped()
    {
        using var nbits = Conv(32, 1);
        var result = PassHarness.Run(nbits, Pass, Args(("conv-blocks", "input-channels"), ("format", "matmul-nbits")));
        Assert.AreEqual((1, 0, 1), (result.Matched, result.Rewritten, result.Skipped));
        using var old = Conv(32, 1, opset: 13);
        result = PassHarness.Run(old, Pass, Args(("conv-blocks", "input-channels")));
        Assert.AreEqual((1, 0, 1), (result.Matched, result.Rewritten, result.Skipped));
        StringAssert.Contains(string.Join("\n", result.Notes), "opset 13");
    }

    // x [8, C, 6, 6] ─Conv(W1 [H, C, 3, 3], b1, pads 1)─▶ h ─Conv(W2 [16, H/2, 3, 3], group 2, strides 2, pads 1)─▶ y [8, 16, 3, 3].
    private static OnnxModel Layers(int channels, int hidden)
    {
        var m = new TestModels(21, irVersion: 10).Input("x", 8, channels, 6, 6).Output("y", 8, 16, 3, 3)
            .Weight("W1", [hidden, channels, 3, 3], 41, -0.3f, 0.3f).Weight("b1", [hidden], 42).Weight("W2", [16, hidden / 2, 3, 3], 43, -0.3f, 0.3f);
        m.Node("Conv", ["x", "W1", "b1"], ["h"], Ints("pads", 1, 1, 1, 1))
            .Node("Conv", ["h", "W2"], ["y"], Int("group", 2), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1));
        return m.Build();
    }

    // GPTQ in the blocks round to nearest uses (rows regrouped by kernel position, channels padded to B): the same
    // stored layout, a smaller output error on the (correlated) calibration data at both ORT levels, and the same bytes
    // twice. With method rtn and bias correction the reconstruction path quantizes through that regrouping too: its
    // codes and scales must be the plain path's, byte for byte.
    [TestMethod]
    [DataRow(true, 24, 40, false)]   // C/g 24 and 20 at B 16: each position's second block padded
    [DataRow(false, 24, 40, true)]
    [DataRow(false, 32, 64, false)]  // C/g 32 and 32: full blocks
    [DataRow(true, 32, 64, true)]
    public void WhenBlockedConvKernelsAreQuantizedWithGptq_OutputErrorIsBelowRoundToNearest(bool symmetric, int channels, int hidden, bool actOrder)
    {
        using var files = new TeacherHarness.TempFiles();
        var (modelPath, calibration) = files.Write(Layers(channels, hidden), TeacherHarness.CorrelatedRows(64, channels * 36, seed: 27), channels, 6, 6);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);
        (byte[] Bytes, PassResult Result) Quantize(string method, bool bias = false)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = PassHarness.Run(model, Pass, Args(("conv-blocks", "input-channels"), ("block-size", 16), ("symmetric", symmetric), ("method", method),
                ("bias-correction", bias), ("act-order", actOrder), ("gptq-block-size", 16)), context);
            Assert.AreEqual((2, 2), (result.Matched, result.Rewritten), string.Join("\n", result.Notes));
            return (PassHarness.Bytes(model), result);
        }
        var (rtn, _) = Quantize("rtn");
        var (gptq, notes) = Quantize("gptq");
        TestContext.WriteLine(string.Join("\n", notes.Notes));
        Assert.AreEqual(2, notes.Notes.Count(n => n.Contains("relative layer output error", StringComparison.Ordinal)), "both layers fitted, none rounded instead");
        CollectionAssert.AreEqual(gptq, Quantize("gptq").Bytes, "same inputs, same bytes");
        Assert.AreEqual(Layout(rtn), Layout(gptq), "the same stored format");
        var (corrected, _) = Quantize("rtn", bias: true);
        using (var plain = OnnxModel.Parse(rtn))
        using (var viaReconstruction = OnnxModel.Parse(corrected))
        {
            var stored = viaReconstruction.Proto.Graph.Initializer.ToDictionary(t => t.Name);
            foreach (var t in plain.Proto.Graph.Initializer.Where(t => t.Name.Contains('_')))
                Assert.AreEqual(t.RawData, stored[t.Name].RawData, $"{t.Name}: round to nearest through the regrouped rows");
        }
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (rtnError, _, _) = TeacherHarness.Compare(teacher, rtn, calibration, level);
            var (gptqError, cosine, _) = TeacherHarness.Compare(teacher, gptq, calibration, level);
            TestContext.WriteLine($"symmetric {symmetric}, C {channels}, act-order {actOrder}, {level}: relative output MSE blocked RTN {rtnError:E3}, blocked GPTQ {gptqError:E3} (cos {cosine:F6})");
            Assert.IsTrue(gptqError < rtnError, $"{level}: GPTQ {gptqError} vs RTN {rtnError}");
        }
    }

    private static string Layout(byte[] bytes)
    {
        using var m = OnnxModel.Parse(bytes);
        return string.Join(" ", m.Proto.Graph.Node.Select(n => n.OpType + string.Join(",", n.Attribute.Select(a => $"{a.Name}={a.I}"))))
            + " | " + string.Join(" ", m.Proto.Graph.Initializer.Select(t => $"{t.Name}:{t.DataType}[{string.Join(",", t.Dims)}]"));
    }

    // Hand-built: x ─Conv(DequantizeLinear(q [M, C/g, 3, 3], s [M, ⌈(C/g)/B⌉, 3, 3], axis 1, block_size B))─▶ y against
    // the same Conv over the float values (q − z)·s computed here. Guards that ONNX Runtime runs blocked int4/uint4
    // DequantizeLinear with 4-D scales (and a padded last block) at both optimization levels.
    [TestMethod]
    [DataRow(true, 1, 12, 8)]
    [DataRow(false, 1, 12, 8)]
    [DataRow(true, 2, 12, 4)]
    [DataRow(false, 2, 10, 4)]
    public void WhenOrtRunsBlockedInt4DequantizeLinearConvKernels_OutputsMatchTheFloatKernel(bool symmetric, int groups, int channels, int block)
    {
        int m = 4, perGroup = channels / groups, blocks = (perGroup + block - 1) / block, taps = 9;
        var random = new Random(5);
        var codes = new byte[m * perGroup * taps];
        var scales = new float[m * blocks * taps];
        var zero = new byte[scales.Length];
        for (int i = 0; i < codes.Length; i++) codes[i] = (byte)random.Next(symmetric ? 0 : 0, 16);
        for (int i = 0; i < scales.Length; i++) (scales[i], zero[i]) = (0.01f + random.NextSingle() * 0.1f, (byte)(symmetric ? 0 : random.Next(0, 16)));
        var weights = new float[codes.Length];
        for (int o = 0; o < m; o++)
            for (int c = 0; c < perGroup; c++)
                for (int t = 0; t < taps; t++)
                {
                    int at = (o * perGroup + c) * taps + t, p = (o * blocks + c / block) * taps + t;
                    int q = symmetric ? (codes[at] ^ 8) - 8 : codes[at] - zero[p]; // signed nibble for int4
                    weights[at] = q * scales[p];
                }
        long[] wDims = [m, perGroup, 3, 3], sDims = [m, blocks, 3, 3];
        TestModels Model() => new TestModels(21, 10).Input("x", 2, channels, 6, 6).Output("y", 2, m, 6, 6);
        var reference = Model();
        reference.Graph.Initializer.Add(Tensor("W", wDims, weights));
        reference.Node("Conv", ["x", "W"], ["y"], Ints("pads", 1, 1, 1, 1), Int("group", groups));
        var blocked = Model();
        int type = symmetric ? (int)TensorProto.Types.DataType.Int4 : (int)TensorProto.Types.DataType.Uint4;
        blocked.Graph.Initializer.Add(Packed("W_q4", type, wDims, codes));
        blocked.Graph.Initializer.Add(Tensor("W_scale", sDims, scales));
        if (!symmetric) blocked.Graph.Initializer.Add(Packed("W_zero_point", type, sDims, zero));
        blocked.Node("DequantizeLinear", symmetric ? ["W_q4", "W_scale"] : ["W_q4", "W_scale", "W_zero_point"], ["W"], Int("axis", 1), Int("block_size", block))
            .Node("Conv", ["x", "W"], ["y"], Ints("pads", 1, 1, 1, 1), Int("group", groups));
        using var r = reference.Build();
        using var b = blocked.Build();
        PassHarness.AssertSameOutputs(PassHarness.Bytes(r), PassHarness.Bytes(b), rtol: 1e-5, atol: 1e-5);
    }

    private static TensorProto Packed(string name, int type, long[] dims, byte[] nibbles)
    {
        var packed = new byte[(nibbles.Length + 1) / 2];
        for (int i = 0; i < nibbles.Length; i++) packed[i / 2] |= (byte)((nibbles[i] & 15) << (i % 2 * 4));
        var t = new TensorProto { Name = name, DataType = type, RawData = ByteString.CopyFrom(packed) };
        t.Dims.AddRange(dims);
        return t;
    }

    // Σ(ŷ − y)² / Σy² over two seeded inputs.
    private static double RelativeError(byte[] before, byte[] after, OptimizationLevel level)
    {
        var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
        using var original = ModelSession.Open(before, "original", options);
        using var rewritten = ModelSession.Open(after, "rewritten", options);
        double error = 0, reference = 0;
        for (int seed = 0; seed < 2; seed++)
        {
            var feeds = InputGenerator.Generate(original.Inputs, null, seed);
            var (y, yHat) = (original.Run(feeds)[0].ToFloats(), rewritten.Run(feeds)[0].ToFloats());
            for (int i = 0; i < y.Length; i++) (error, reference) = (error + (yHat[i] - y[i]) * (yHat[i] - y[i]), reference + y[i] * y[i]);
        }
        return error / reference;
    }

    // 4-bit values of an int4 (signed) or uint4 tensor, low nibble first.
    private static int[] Unpack(TensorProto tensor, int count)
    {
        var bytes = tensor.RawData.Span;
        var values = new int[count];
        for (int i = 0; i < count; i++)
        {
            int nibble = (bytes[i / 2] >> (i % 2 * 4)) & 15;
            values[i] = tensor.DataType == 22 ? (nibble ^ 8) - 8 : nibble;
        }
        return values;
    }
}
