using CompressTasks.Runtime.Data;
using System.Numerics.Tensors;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using static CompressTasks.Passes.Tests.TestModels;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Quantization;

[TestClass]
public sealed class QuantizeStaticTests
{
    private static readonly QuantizeStatic Pass = new();

    // Tolerance: a uint8 activation is off by at most s/2 = range/510, about 0.1% of its range (rms range/(255·√12)),
    // and int8 weights add about 0.4% rms per weight (see QuantizeWeightsInt8Tests). Five quantized layers compound
    // to a few tenths of a percent of relative error: cosine ≥ 0.999 would be tight for clipping estimators
    // (percentile/entropy deliberately saturate outliers), so 0.995 is the bar; the measured figure is printed.
    private const double MinCosine = 0.995;

    public TestContext TestContext { get; set; } = null!;

    // The pass with the calibration data in its context, as the engine runs it.
    private static PassResult Run(OnnxModel model, DataSource? calibration, params (string Name, object Value)[] values) =>
        PassHarness.Run(model, Pass, new PassArguments(Pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value))),
            new PassContext(null, calibration));

    // x [1,3,16,16] ─Conv(W1,b1)─Relu─▶ r1 ─Conv(W2,b2)─▶ c2 ─Add(r1)─Relu─MaxPool─GlobalAveragePool─Flatten─Gemm(W3,b3)─▶ y [1,10]
    private static TestModels Cnn(long opset = 13)
    {
        var m = new TestModels(opset).Input("x", 1, 3, 16, 16).Output("y", 1, 10)
            .Weight("W1", [8, 3, 3, 3], 1, -0.5f, 0.5f).Weight("b1", [8], 2, -0.1f, 0.1f)
            .Weight("W2", [8, 8, 3, 3], 3, -0.3f, 0.3f).Weight("b2", [8], 4, -0.1f, 0.1f)
            .Weight("W3", [10, 8], 5).Weight("b3", [10], 6);
        m.Node("Conv", ["x", "W1", "b1"], ["c1"], Ints("pads", 1, 1, 1, 1)).Node("Relu", ["c1"], ["r1"])
            .Node("Conv", ["r1", "W2", "b2"], ["c2"], Ints("pads", 1, 1, 1, 1)).Node("Add", ["c2", "r1"], ["s"]).Node("Relu", ["s"], ["r2"])
            .Node("MaxPool", ["r2"], ["p"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)).Node("GlobalAveragePool", ["p"], ["g"])
            .Node("Flatten", ["g"], ["f"]).Node("Gemm", ["f", "W3", "b3"], ["y"], Int("transB", 1));
        return m;
    }

    // Uniform [0, 1) images, like normalized pixels; the seed picks calibration or evaluation rows.
    private static float[] Images(int rows, int rowLength, int seed)
    {
        var random = new Random(seed);
        var values = new float[rows * rowLength];
        for (int i = 0; i < values.Length; i++) values[i] = random.NextSingle();
        return values;
    }

    private static DataSource Calibration(TestDirectory dir, long[] rowShape, int rows = 16)
    {
        long rowLength = rowShape.Aggregate(1L, (a, d) => a * d);
        var path = Path.Combine(dir.Path, "calib.npy");
        NpyFile.Write(path, Images(rows, (int)rowLength, 100), [rows, .. rowShape]);
        return DataSource.FromPath(path);
    }

    [TestMethod]
    [DataRow("minmax")]
    [DataRow("percentile")]
    [DataRow("entropy")]
    public void WhenCnnIsQuantized_OrtFusesIntegerKernelsAndOutputsAgree(string method)
    {
        using var dir = new TestDirectory();
        using var model = Cnn().Build();
        var before = PassHarness.Bytes(model);
        var result = Run(model, Calibration(dir, [3, 16, 16]), ("method", method));
        TestContext.WriteLine(string.Join("\n", result.Notes));

        var graph = model.Proto.Graph;
        // Conv, Conv, Add, MaxPool, GlobalAveragePool, Flatten, Gemm; the Relus are folded into zero points.
        Assert.AreEqual(7, result.Rewritten);
        string[] activations = ["x", "r1", "c2", "r2", "p", "g", "f"];
        CollectionAssert.AreEquivalent(activations, graph.Node.Where(n => n.OpType == "QuantizeLinear").Select(n => n.Input[0]).ToArray());
        Assert.IsFalse(graph.Node.Any(n => n.OpType == "QuantizeLinear" && n.Input[0] is "c1" or "s" or "y"), "Relu inputs and the output stay float");
        var init = graph.Initializer.ToDictionary(t => t.Name);
        Assert.AreEqual(3, init["W1_quantized"].DataType, "int8 weights");
        Assert.AreEqual(6, init["b1_quantized"].DataType, "int32 biases");
        Assert.AreEqual(2, init["x_zero_point"].DataType, "uint8 activations");
        // MaxPool reuses its input's scale so ONNX Runtime can drop the pair; a Relu output's zero point is 0.
        var q = graph.Node.Where(n => n.OpType == "QuantizeLinear").ToDictionary(n => n.Input[0]);
        Assert.AreEqual(Scalar(init[q["r2"].Input[1]]), Scalar(init[q["p"].Input[1]]));
        Assert.AreEqual(0, init[q["r1"].Input[2]].RawData[0]);
        // Bias scale = input scale × weight scale, per output channel.
        float xScale = Scalar(init[q["x"].Input[1]]);
        var w1Scale = Floats(init["W1_scale"]);
        var b1Scale = Floats(init["b1_scale"]);
        for (int c = 0; c < 8; c++) Assert.AreEqual(xScale * w1Scale[c], b1Scale[c]);
        CollectionAssert.AreEqual(new[] { "x" }, graph.Input.Select(i => i.Name).ToArray());
        CollectionAssert.AreEqual(new[] { "y" }, graph.Output.Select(o => o.Name).ToArray());

        var after = PassHarness.Bytes(model);
        var fused = OptimizedOpTypes(after);
        TestContext.WriteLine($"{method}: ONNX Runtime at All runs {string.Join(", ", fused)}");
        Assert.IsTrue(fused.Contains("QLinearConv") && !fused.Contains("Conv"), "both Convs run as QLinearConv");
        Assert.IsFalse(fused.Contains("Relu"), "the Relus were absorbed");
        AssertAgreement(before, after, method);
    }

    [TestMethod]
    public void WhenMatMulsAreQuantized_OrtRunsThemOnIntegers()
    {
        using var dir = new TestDirectory();
        var m = new TestModels().Input("x", 50, 64).Output("y", 50, 16).Weight("W1", [64, 32], 1).Weight("W2", [32, 16], 2);
        m.Node("MatMul", ["x", "W1"], ["h"]).Node("Relu", ["h"], ["r"]).Node("MatMul", ["r", "W2"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var calibration = Path.Combine(dir.Path, "calib.npy");
        NpyFile.Write(calibration, Images(200, 64, 100), 200, 64);
        var result = Run(model, DataSource.FromPath(calibration));
        Assert.AreEqual(2, result.Rewritten);
        StringAssert.Contains(string.Join("\n", result.Notes), "on 4 batch(es)");
        var fused = OptimizedOpTypes(PassHarness.Bytes(model));
        TestContext.WriteLine($"ONNX Runtime at All runs {string.Join(", ", fused)}");
        Assert.IsFalse(fused.Contains("MatMul"), "no float MatMul is left");
        AssertAgreement(before, PassHarness.Bytes(model), "minmax");
    }

    [TestMethod]
    public void WhenThereIsNoDataSource_ThePassSkipsAndChangesNothing()
    {
        using var model = Cnn().Build();
        var before = PassHarness.Bytes(model);
        var result = Run(model, null);
        Assert.AreEqual((0, 1), (result.Rewritten, result.Skipped));
        StringAssert.Contains(result.Notes.Single(), "no calibration data");
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow(9L, true, "opset 9 has no QuantizeLinear/DequantizeLinear")]
    [DataRow(9L, false, "opset 9 has no QuantizeLinear/DequantizeLinear")]
    [DataRow(11L, true, "opset 11 has no per-axis DequantizeLinear")]
    public void WhenOpsetIsTooLow_ThePassSkipsAndTheOpsetStays(long opset, bool perChannel, string reason)
    {
        using var dir = new TestDirectory();
        using var model = Cnn(opset).Build();
        var before = PassHarness.Bytes(model);
        var result = Run(model, Calibration(dir, [3, 16, 16]), ("per-channel", perChannel));
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes.Single(), reason);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenOpset11AndPerTensor_ItQuantizesAndAgrees()
    {
        using var dir = new TestDirectory();
        using var model = Cnn(11).Build();
        var before = PassHarness.Bytes(model);
        // MaxPool runs on integers only from opset 12, so at 11 it stays float, and so does the Add that only feeds
        // it: Conv, Conv, GlobalAveragePool, Flatten, Gemm.
        var result = Run(model, Calibration(dir, [3, 16, 16]), ("per-channel", false));
        Assert.AreEqual(5, result.Rewritten);
        Assert.IsTrue(model.Proto.Graph.Node.Where(n => n.OpType == "DequantizeLinear").All(n => n.Attribute.Count == 0), "per tensor: no axis");
        Assert.AreEqual(11, model.Proto.OpsetImport.Single().Version);
        AssertAgreement(before, PassHarness.Bytes(model), "minmax per tensor");
    }

    [TestMethod]
    public void WhenActivationsAreInt8_OutputsAgree()
    {
        using var dir = new TestDirectory();
        using var model = Cnn().Build();
        var before = PassHarness.Bytes(model);
        Run(model, Calibration(dir, [3, 16, 16]), ("activation-type", "int8"));
        var init = model.Proto.Graph.Initializer.ToDictionary(t => t.Name);
        Assert.AreEqual(3, init["x_zero_point"].DataType);
        Assert.AreEqual(unchecked((byte)-128), init["r1_zero_point"].RawData[0], "a Relu output starts at −128");
        TestContext.WriteLine($"int8 activations: ONNX Runtime at All runs {string.Join(", ", OptimizedOpTypes(PassHarness.Bytes(model)))}");
        AssertAgreement(before, PassHarness.Bytes(model), "int8 activations");
    }

    [TestMethod]
    public void WhenTheLastLayerIsKept_ItsInputGetsNoQuantizePair()
    {
        using var dir = new TestDirectory();
        using var model = Cnn().Build();
        var result = Run(model, Calibration(dir, [3, 16, 16]), ("keep-last", true));
        var graph = model.Proto.Graph;
        StringAssert.Contains(string.Join("\n", result.Notes), "'W3' is the last selected layer");
        // Flatten, the pooling and the Add feed only the float Gemm now, so they stay float as well; the second
        // Conv's output is still quantized, since QLinearConv needs it.
        CollectionAssert.AreEquivalent(new[] { "x", "r1", "c2" },
            graph.Node.Where(n => n.OpType == "QuantizeLinear").Select(n => n.Input[0]).ToArray());
        Assert.AreEqual(1, graph.Initializer.Single(t => t.Name == "W3").DataType);
    }

    [TestMethod]
    public void WhenAnActivationIsAGraphOutput_ItKeepsItsFloatValueAndName()
    {
        using var dir = new TestDirectory();
        var m = Cnn();
        m.Graph.Output.Add(ValueInfo("r1", [1, 8, 16, 16]));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = Run(model, Calibration(dir, [3, 16, 16]), ("calibration-batches", 2));
        StringAssert.Contains(string.Join("\n", result.Notes), "on 2 batch(es)", "calibration-batches limits the runs");
        var graph = model.Proto.Graph;
        CollectionAssert.AreEqual(new[] { "y", "r1" }, graph.Output.Select(o => o.Name).ToArray());
        Assert.AreEqual("Relu", graph.Node.Single(n => n.Output.Contains("r1")).OpType, "r1 is still the Relu's float output");
        Assert.IsFalse(graph.Node.Any(n => n.OpType == "Conv" && n.Input[0] == "r1"), "the Conv reads the dequantized r1");
        var after = PassHarness.Bytes(model);
        AssertAgreement(before, after, "with r1 as an output");
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
            using var original = ModelSession.Open(before, "original", options);
            using var rewritten = ModelSession.Open(after, "rewritten", options);
            var feed = new Dictionary<string, TensorValue> { ["x"] = TensorValue.FromFloats(Images(1, 3 * 16 * 16, 5), 1, 3, 16, 16) };
            // r1 is computed by the quantized Conv, so it moves a little, but it stays a float32 output of that name.
            var (e, a) = (original.Run(feed, ["r1"])[0], rewritten.Run(feed, ["r1"])[0]);
            Assert.AreEqual(1, a.ElementType);
            double cosine = TensorPrimitives.CosineSimilarity(e.ToFloats(), a.ToFloats());
            Assert.IsTrue(cosine >= MinCosine, $"r1 at {level}: cosine {cosine}");
        }
    }

    [TestMethod]
    public void WhenAWeightIsShared_OneDequantizeServesBothConvsAndTheSharedBiasStaysFloat()
    {
        using var dir = new TestDirectory();
        var m = new TestModels().Input("x", 1, 8, 8, 8).Output("y", 1, 8, 8, 8).Weight("W", [8, 8, 3, 3], 1, -0.3f, 0.3f).Weight("b", [8], 2, -0.1f, 0.1f);
        m.Node("Conv", ["x", "W", "b"], ["c1"], Ints("pads", 1, 1, 1, 1)).Node("Relu", ["c1"], ["r1"])
            .Node("Conv", ["r1", "W", "b"], ["y"], Ints("pads", 1, 1, 1, 1));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var calibration = Path.Combine(dir.Path, "calib.npy");
        NpyFile.Write(calibration, Images(8, 8 * 8 * 8, 100), 8, 8, 8, 8);
        var result = Run(model, DataSource.FromPath(calibration));
        Assert.AreEqual(2, result.Rewritten);
        var graph = model.Proto.Graph;
        Assert.AreEqual(1, graph.Node.Count(n => n.OpType == "DequantizeLinear" && n.Output[0] == "W"));
        Assert.AreEqual(1, graph.Initializer.Single(t => t.Name == "b").DataType, "b has two readers with different input scales");
        StringAssert.Contains(string.Join("\n", result.Notes), "bias stays float32 (shared with other readers)");
        AssertAgreement(before, PassHarness.Bytes(model), "shared weight");
    }

    [TestMethod]
    public void WhenTheModelHasTwoInputs_DataSourceDoesNotFitAndThePassSkips()
    {
        using var dir = new TestDirectory();
        var m = new TestModels().Input("x", 4, 64).Input("z", 4, 32).Output("y", 4, 32).Weight("W", [64, 32], 1);
        m.Node("MatMul", ["x", "W"], ["h"]).Node("Add", ["h", "z"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = Run(model, Calibration(dir, [64]));
        StringAssert.Contains(result.Notes[^1], "does not fit the model");
        Assert.AreEqual(0, result.Rewritten);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenTheModelHasTwoInputs_AnNpzNamedAfterThemOrOneFilePerInputCalibratesIt(bool npz)
    {
        using var dir = new TestDirectory();
        var m = new TestModels().Input("x", 4, 64).Input("z", 4, 32).Output("y", 4, 32).Weight("W", [64, 32], 1);
        m.Node("MatMul", ["x", "W"], ["h"]).Node("Add", ["h", "z"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var arrays = Directory.CreateDirectory(Path.Combine(dir.Path, "arrays")).FullName;
        NpyFile.Write(Path.Combine(arrays, "x.npy"), Images(16, 64, 100), 16, 64);
        NpyFile.Write(Path.Combine(arrays, "z.npy"), Images(16, 32, 101), 16, 32);
        DataSource source;
        if (npz)
        {
            System.IO.Compression.ZipFile.CreateFromDirectory(arrays, Path.Combine(dir.Path, "calib.npz"));
            source = DataSource.FromPath(Path.Combine(dir.Path, "calib.npz"));
        }
        else
        {
            source = DataSource.PerInput([new("z", Path.Combine(arrays, "z.npy")), new("x", Path.Combine(arrays, "x.npy"))]);
        }
        var result = Run(model, source);
        StringAssert.Contains(string.Join("\n", result.Notes), "on 4 batch(es)");
        Assert.IsTrue(result.Rewritten > 0, string.Join("\n", result.Notes));
        Assert.IsTrue(model.Proto.Graph.Node.Any(n => n.OpType == "QuantizeLinear" && n.Input[0] == "x"));
        AssertAgreement(before, PassHarness.Bytes(model), "two inputs");
    }

    [TestMethod]
    public void WhenRunTwiceOnTheSameData_TheBytesAreTheSame()
    {
        using var dir = new TestDirectory();
        var calibration = Calibration(dir, [3, 16, 16]);
        byte[] Quantize()
        {
            using var model = Cnn().Build();
            Run(model, calibration, ("method", "entropy"));
            return PassHarness.Bytes(model);
        }
        CollectionAssert.AreEqual(Quantize(), Quantize());
    }

    private static float Scalar(TensorProto t) => BitConverter.ToSingle(t.RawData.Span);

    private static float[] Floats(TensorProto t) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray();

    // The op types ONNX Runtime actually runs at optimization level All (its optimized model, saved to a file).
    internal static HashSet<string> OptimizedOpTypes(byte[] model)
    {
        var path = Path.Combine(Path.GetTempPath(), $"ct-static-opt-{Guid.NewGuid():N}.onnx");
        try
        {
            using (ModelSession.Open(model, "quantized", new RuntimeOptions { Optimization = OptimizationLevel.All, OptimizedModelPath = path })) { }
            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(path)).Graph.Node.Select(n => n.OpType).ToHashSet();
        }
        finally
        {
            File.Delete(path);
        }
    }

    // Cosine of every output to the original's on 4 evaluation images (not the calibration rows), at both levels.
    private void AssertAgreement(byte[] before, byte[] after, string label)
    {
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
            using var original = ModelSession.Open(before, "original", options);
            using var rewritten = ModelSession.Open(after, "rewritten", options);
            double worst = 1;
            for (int seed = 0; seed < 4; seed++)
            {
                var feed = new Dictionary<string, TensorValue>();
                for (int i = 0; i < original.Inputs.Count; i++)
                {
                    var shape = original.Inputs[i].Shape;
                    feed[original.Inputs[i].Name] = TensorValue.FromFloats(Images(1, (int)shape.Aggregate(1L, (a, d) => a * d), seed + 10 * i), shape);
                }
                var e = original.Run(feed)[0].ToFloats();
                var a = rewritten.Run(feed)[0].ToFloats();
                worst = Math.Min(worst, TensorPrimitives.CosineSimilarity(e, a));
            }
            TestContext.WriteLine($"{label} at {level}: worst cosine {worst:F6}");
            Assert.IsTrue(worst >= MinCosine, $"{label} at {level}: cosine {worst:F6} < {MinCosine}");
        }
    }

    private sealed class TestDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"ct-static-{Guid.NewGuid():N}")).FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
