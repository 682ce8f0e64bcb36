using System.Text;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Quantization;

/// <summary>The teacher-guided branch of quantize-int4: method gptq and bias-correction, in both stored formats.</summary>
[TestClass]
public sealed class QuantizeWeightsInt4ReconstructionTests
{
    private static readonly QuantizeWeightsInt4 Pass = new();
    private const int Batch = 32, Rows = 256, Features = 64;

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value)).Append(new("min-elements", 64)));

    // x ─MatMul(W1 [64, 48])─Add(b1)─▶ h ─Gemm(h, W2 [32, 48], b2, transB = 1)─▶ y. Block 32: W1 has two full
    // blocks along K, W2 (K = 48) a full one and a padded one.
    private static OnnxModel Dense(long opset)
    {
        var m = new TestModels(opset, irVersion: opset >= 21 ? 10 : 8).Input("x", Batch, Features).Output("y", Batch, 32)
            .Weight("W1", [Features, 48], 1).Weight("b1", [48], 2).Weight("W2", [32, 48], 3).Weight("b2", [32], 4);
        m.Node("MatMul", ["x", "W1"], ["m1"]).Node("Add", ["m1", "b1"], ["h"]).Node("Gemm", ["h", "W2", "b2"], ["y"], Int("transB", 1));
        return m.Build();
    }

    [TestMethod]
    [DataRow("gptq", false)]
    [DataRow("rtn", true)]
    public void WhenCalibrationDataIsMissing_EveryWeightIsSkippedWithTheReason(string method, bool biasCorrection)
    {
        using var model = Dense(13);
        var before = PassHarness.Bytes(model);
        var result = Run(model, PassContext.None, ("method", method), ("bias-correction", biasCorrection));
        TestContext.WriteLine(string.Join("\n", result.Notes));
        Assert.AreEqual((2, 0, 2), (result.Matched, result.Rewritten, result.Skipped));
        Assert.IsTrue(result.Notes.All(n => n.Contains("calibration:", StringComparison.Ordinal)));
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model), "nothing changed");
    }

    // GPTQ against round to nearest on the calibration data, at both ORT levels. At All, ORT runs MatMulNBits in
    // float32 (accuracy level 0) and fuses a DequantizeLinear(int4) + MatMul into MatMulNBits with int8 activations;
    // either way the stored weights are what differ, and GPTQ's must be closer to the teacher.
    [TestMethod]
    [DataRow("matmul-nbits", true, false)]
    [DataRow("matmul-nbits", false, true)]
    [DataRow("dequantize-linear", true, true)]
    [DataRow("dequantize-linear", false, false)]
    public void WhenGptqQuantizes_OutputErrorOnCalibrationDataIsBelowRoundToNearest(string format, bool symmetric, bool actOrder)
    {
        using var files = new TeacherHarness.TempFiles();
        long opset = format == "dequantize-linear" ? 21 : 13;
        var (modelPath, calibration) = files.Write(Dense(opset), TeacherHarness.CorrelatedRows(Rows, Features, seed: 7), Features);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);

        byte[] Quantize(string method)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = Run(model, context, ("method", method), ("format", format), ("symmetric", symmetric), ("act-order", actOrder), ("gptq-block-size", 16));
            TestContext.WriteLine($"{method}: {string.Join("; ", result.Notes)}");
            Assert.AreEqual((2, 2), (result.Matched, result.Rewritten));
            return PassHarness.Bytes(model);
        }
        var rtn = Quantize("rtn");
        var gptq = Quantize("gptq");
        CollectionAssert.AreEqual(gptq, Quantize("gptq"), "same inputs, same bytes");
        using (var g = OnnxModel.Parse(gptq))
        using (var r = OnnxModel.Parse(rtn))
        {
            string Layout(OnnxModel m) => string.Join(" ", m.Proto.Graph.Node.Select(n => n.OpType + string.Join(",", n.Attribute.Select(a => a.I))))
                + " | " + string.Join(" ", m.Proto.Graph.Initializer.Select(t => $"{t.Name}:{t.DataType}[{string.Join(",", t.Dims)}]"));
            Assert.AreEqual(Layout(r), Layout(g), "the same stored format");
        }

        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (rtnError, rtnCosine, _) = TeacherHarness.Compare(teacher, rtn, calibration, level);
            var (gptqError, gptqCosine, _) = TeacherHarness.Compare(teacher, gptq, calibration, level);
            TestContext.WriteLine($"{format}, {level}: relative output MSE on calibration data RTN {rtnError:E3} (cos {rtnCosine:F6}), GPTQ {gptqError:E3} (cos {gptqCosine:F6})");
            Assert.IsTrue(gptqError < rtnError, $"{level}: GPTQ {gptqError} vs RTN {rtnError}");
            // Two 4-bit layers of uniform weights: about 0.9975 each against fp32 (see QuantizeWeightsInt4Tests).
            Assert.IsTrue(gptqCosine > 0.99, $"{level}: cosine {gptqCosine}");
        }
    }

    // With method rtn the reconstruction branch quantizes through LinearWeightQuantizer, the plain path through
    // Int4Quantization: the stored codes and scales must be the same bytes (only the biases move).
    [TestMethod]
    [DataRow("rtn", "matmul-nbits", false)]
    [DataRow("rtn", "dequantize-linear", true)]
    [DataRow("rtn", "dequantize-linear", false)]
    [DataRow("gptq", "matmul-nbits", true)]
    public void WhenBiasCorrectionIsOn_TheMeanOutputShiftOnCalibrationDataIsNearZero(string method, string format, bool symmetric)
    {
        using var files = new TeacherHarness.TempFiles();
        long opset = format == "dequantize-linear" ? 21 : 13;
        var (modelPath, calibration) = files.Write(Dense(opset), TeacherHarness.CorrelatedRows(Rows, Features, seed: 9), Features);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);
        byte[] Quantize(bool correct)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = Run(model, context, ("method", method), ("format", format), ("symmetric", symmetric), ("bias-correction", correct));
            if (correct) Assert.AreEqual(2, result.Notes.Count(n => n.Contains("corrected", StringComparison.Ordinal)), string.Join("; ", result.Notes));
            return PassHarness.Bytes(model);
        }
        var plain = Quantize(false);
        var corrected = Quantize(true);
        using (var p = OnnxModel.Parse(plain))
        using (var c = OnnxModel.Parse(corrected))
        {
            var stored = c.Proto.Graph.Initializer.ToDictionary(t => t.Name);
            int same = 0;
            foreach (var t in p.Proto.Graph.Initializer)
            {
                bool bias = t.Name is "b1" or "b2";
                Assert.AreEqual(!bias, t.RawData.Equals(stored[t.Name].RawData), $"{t.Name}: only the biases change");
                same += bias ? 0 : 1;
            }
            TestContext.WriteLine($"{same} stored weight tensors identical with and without bias correction");
        }
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (_, _, shiftBefore) = TeacherHarness.Compare(teacher, plain, calibration, level);
            var (_, cosine, shiftAfter) = TeacherHarness.Compare(teacher, corrected, calibration, level);
            TestContext.WriteLine($"{method} {format} symmetric {symmetric}, {level}: max |mean output shift| on calibration data {shiftBefore:E3} → {shiftAfter:E3} with bias correction (cos {cosine:F6})");
            // No activation between the two layers, so the corrections add up exactly and only float32 rounding is
            // left; at All a DequantizeLinear + MatMul runs as MatMulNBits with int8 activations, which shifts again.
            Assert.IsTrue(shiftAfter < shiftBefore / (level == OptimizationLevel.Disabled || format == "matmul-nbits" ? 1000 : 5), $"{level}: {shiftBefore} → {shiftAfter}");
            Assert.IsTrue(cosine > 0.99, $"{level}: cosine {cosine}");
        }
    }

    [TestMethod]
    public void WhenMnistMlpIsQuantizedWithGptq_HeldOutAccuracyIsNotWorseThanRoundToNearest()
    {
        var mnist = TeacherHarness.Mnist.Load();
        var teacher = File.ReadAllBytes(mnist.Path);
        double original = mnist.Top1(teacher);
        var table = new StringBuilder($"mnist-mlp int4 block 32 symmetric (MatMulNBits), {mnist.Labels.Length} held-out images; fp32 top-1 {original:P1}\n" +
            "| method | bias correction | top-1 (ORT All) | relative output MSE vs fp32, ORT Disabled | same, ORT All |\n|---|---|---|---|---|\n");
        var accuracy = new Dictionary<(string, bool), double>();
        var error = new Dictionary<(string, bool), double>();
        foreach (var method in new[] { "rtn", "gptq" })
            foreach (var bias in new[] { false, true })
            {
                using var model = OnnxModel.Load(mnist.Path);
                var result = Run(model, mnist.Context, ("method", method), ("bias-correction", bias));
                Assert.AreEqual(3, result.Rewritten, string.Join("; ", result.Notes));
                var bytes = PassHarness.Bytes(model);
                accuracy[(method, bias)] = mnist.Top1(bytes);
                var (mse, _, _) = TeacherHarness.Compare(teacher, bytes, mnist.Images, OptimizationLevel.Disabled);
                var (mseAll, _, _) = TeacherHarness.Compare(teacher, bytes, mnist.Images, OptimizationLevel.All);
                error[(method, bias)] = mse;
                table.AppendLine($"| {method} | {bias} | {accuracy[(method, bias)]:P1} | {mse:E3} | {mseAll:E3} |");
                if (method == "gptq") TeacherHarness.CheckedByOnnx(bytes, $"int4 GPTQ (bias correction {bias})");
                foreach (var note in result.Notes) TestContext.WriteLine($"  {method}{(bias ? "+bias" : "")}: {note}");
            }
        TestContext.WriteLine(table.ToString());
        foreach (var bias in new[] { false, true })
        {
            Assert.IsTrue(accuracy[("gptq", bias)] >= accuracy[("rtn", bias)], $"bias {bias}: GPTQ {accuracy[("gptq", bias)]:P1} vs RTN {accuracy[("rtn", bias)]:P1}");
            Assert.IsTrue(error[("gptq", bias)] < error[("rtn", bias)], $"bias {bias}: GPTQ output error {error[("gptq", bias)]} vs RTN {error[("rtn", bias)]}");
        }
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenConvLayersAreQuantizedToInt4WithGptq_OutputErrorIsBelowRoundToNearest(bool symmetric)
    {
        // Conv kernels as int4 DequantizeLinear per output channel (opset 21), op-types: [Conv]; GPTQ fits W1 and
        // each of W2's two groups over their im2col statistics. ONNX Runtime runs int4 per-axis DequantizeLinear at both levels.
        using var files = new TeacherHarness.TempFiles();
        var (modelPath, calibration) = files.Write(TeacherHarness.ConvLayers(opset: 21),
            TeacherHarness.CorrelatedRows(TeacherHarness.ConvImages, TeacherHarness.ConvChannels * TeacherHarness.ConvSize * TeacherHarness.ConvSize, seed: 25),
            TeacherHarness.ConvChannels, TeacherHarness.ConvSize, TeacherHarness.ConvSize);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);
        byte[] Quantize(string method)
        {
            using var model = OnnxModel.Load(modelPath);
            var args = new PassArguments(Pass.Descriptor, [new("method", method), new("symmetric", symmetric), new("format", "dequantize-linear"),
                new("op-types", new[] { "Conv" }), new("min-elements", 64), new("gptq-block-size", 16)]);
            var result = PassManager.Run(model, [new PassStep(Pass, args)], validateEachPass: true, context: context)[0].Result;
            TestContext.WriteLine($"{method}: {string.Join("; ", result.Notes)}");
            Assert.AreEqual((2, 2), (result.Matched, result.Rewritten));
            var dequantize = model.Proto.Graph.Node.Where(n => n.OpType == "DequantizeLinear").ToList();
            Assert.AreEqual(2, dequantize.Count);
            Assert.IsTrue(dequantize.All(n => n.Attribute.Single().Name == "axis" && n.Attribute.Single().I == 0), "per output channel, no blocks");
            Assert.IsTrue(model.Proto.Graph.Initializer.Where(t => t.Name.EndsWith("_q4", StringComparison.Ordinal)).All(t => t.DataType == (symmetric ? 22 : 21)), "int4 / uint4");
            if (method == "gptq") Assert.IsTrue(result.Notes.Any(n => n.Contains("'W1': relative layer output error", StringComparison.Ordinal)));
            return PassHarness.Bytes(model);
        }
        var rtn = Quantize("rtn");
        var gptq = Quantize("gptq");
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (rtnError, _, _) = TeacherHarness.Compare(teacher, rtn, calibration, level);
            var (gptqError, cosine, _) = TeacherHarness.Compare(teacher, gptq, calibration, level);
            TestContext.WriteLine($"{level}: relative output MSE RTN {rtnError:E3}, GPTQ {gptqError:E3} (cos {cosine:F6})");
            Assert.IsTrue(gptqError < rtnError, $"{level}: GPTQ {gptqError} vs RTN {rtnError}");
        }
    }

    private static PassResult Run(OnnxModel model, PassContext context, params (string Name, object Value)[] values) =>
        PassManager.Run(model, [new PassStep(Pass, Args(values))], validateEachPass: true, context: context)[0].Result;
}
