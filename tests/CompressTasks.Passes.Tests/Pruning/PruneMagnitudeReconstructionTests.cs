using System.Text;
using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Pruning;
using CompressTasks.Runtime;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Pruning;

/// <summary>The teacher-guided branch of prune-magnitude: method sparsegpt and bias-correction.</summary>
[TestClass]
public sealed class PruneMagnitudeReconstructionTests
{
    private static readonly PruneMagnitude Pass = new();
    private const int Batch = 32, Rows = 256, Features = 64;

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value)).Append(new("min-elements", 64)).Append(new("storage", "dense")));

    // x ─MatMul(W1 [64, 48])─Add(b1)─▶ h ─Gemm(h, W2 [32, 48], b2, transB = 1)─▶ y
    private static OnnxModel Dense()
    {
        var m = new TestModels().Input("x", Batch, Features).Output("y", Batch, 32)
            .Weight("W1", [Features, 48], 1).Weight("b1", [48], 2).Weight("W2", [32, 48], 3).Weight("b2", [32], 4);
        m.Node("MatMul", ["x", "W1"], ["m1"]).Node("Add", ["m1", "b1"], ["h"]).Node("Gemm", ["h", "W2", "b2"], ["y"], Int("transB", 1));
        return m.Build();
    }

    [TestMethod]
    [DataRow("sparsegpt", false)]
    [DataRow("magnitude", true)]
    public void WhenCalibrationDataIsMissing_EveryWeightIsSkippedWithTheReason(string method, bool biasCorrection)
    {
        using var model = Dense();
        var before = PassHarness.Bytes(model);
        var result = Run(model, PassContext.None, ("method", method), ("bias-correction", biasCorrection));
        TestContext.WriteLine(string.Join("\n", result.Notes));
        Assert.AreEqual((2, 0, 2), (result.Matched, result.Rewritten, result.Skipped));
        Assert.IsTrue(result.Notes.All(n => n.Contains("calibration:", StringComparison.Ordinal)));
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model), "nothing changed");
    }

    [TestMethod]
    [DataRow("none", 0.5)]
    [DataRow("2:4", 0.5)]
    [DataRow("none", 0.7)]
    public void WhenSparseGptPrunes_OutputErrorOnCalibrationDataIsBelowMagnitude(string pattern, double sparsity)
    {
        using var files = new TeacherHarness.TempFiles();
        var (modelPath, calibration) = files.Write(Dense(), TeacherHarness.CorrelatedRows(Rows, Features, seed: 5), Features);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);

        byte[] Prune(string method)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = Run(model, context, ("method", method), ("pattern", pattern), ("sparsity", sparsity), ("block-size", 16));
            TestContext.WriteLine($"{method}: {string.Join("; ", result.Notes)}");
            Assert.AreEqual((2, 2), (result.Matched, result.Rewritten));
            var graph = Graph.Open(model);
            foreach (var (name, transposed) in new[] { ("W1", false), ("W2", true) })
            {
                var w = graph.GetConstant(name).AsFloat().ToArray();
                long zeros = w.LongCount(v => v == 0);
                if (pattern == "2:4") AssertTwoOfFour(w, graph.GetConstant(name).Dims, transposed, name);
                else Assert.IsTrue(zeros >= (long)(sparsity * w.Length) - 48, $"{method} '{name}': {zeros} zeros of {w.Length}");
            }
            return PassHarness.Bytes(model);
        }
        var magnitude = Prune("magnitude");
        var sparseGpt = Prune("sparsegpt");
        CollectionAssert.AreEqual(sparseGpt, Prune("sparsegpt"), "same inputs, same bytes");
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (magnitudeError, magnitudeCosine, _) = TeacherHarness.Compare(teacher, magnitude, calibration, level);
            var (sparseError, sparseCosine, _) = TeacherHarness.Compare(teacher, sparseGpt, calibration, level);
            TestContext.WriteLine($"{pattern} {sparsity:P0}, {level}: relative output MSE on calibration data magnitude {magnitudeError:E3} (cos {magnitudeCosine:F6}), SparseGPT {sparseError:E3} (cos {sparseCosine:F6})");
            Assert.IsTrue(sparseError < magnitudeError, $"{level}: SparseGPT {sparseError} vs magnitude {magnitudeError}");
        }
    }

    [TestMethod]
    [DataRow("none", 0.7)]
    [DataRow("2:4", 0.5)]
    public void WhenMnistMlpIsPrunedWithSparseGpt_HeldOutAccuracyIsNotWorseThanMagnitude(string pattern, double sparsity)
    {
        var mnist = TeacherHarness.Mnist.Load();
        var teacher = File.ReadAllBytes(mnist.Path);
        var table = new StringBuilder($"mnist-mlp, {(pattern == "none" ? $"{sparsity:P0} unstructured per layer" : pattern)}, {mnist.Labels.Length} held-out images; fp32 top-1 {mnist.Top1(teacher):P1}\n" +
            "| method | bias correction | top-1 (ORT All) | relative output MSE vs fp32, ORT Disabled | same, ORT All |\n|---|---|---|---|---|\n");
        var accuracy = new Dictionary<(string, bool), double>();
        foreach (var method in new[] { "magnitude", "sparsegpt" })
            foreach (var bias in new[] { false, true })
            {
                using var model = OnnxModel.Load(mnist.Path);
                var result = Run(model, mnist.Context, ("method", method), ("pattern", pattern), ("sparsity", sparsity), ("bias-correction", bias));
                Assert.AreEqual(3, result.Rewritten, string.Join("; ", result.Notes));
                var bytes = PassHarness.Bytes(model);
                accuracy[(method, bias)] = mnist.Top1(bytes);
                var (mse, _, _) = TeacherHarness.Compare(teacher, bytes, mnist.Images, OptimizationLevel.Disabled);
                var (mseAll, _, _) = TeacherHarness.Compare(teacher, bytes, mnist.Images, OptimizationLevel.All);
                table.AppendLine($"| {method} | {bias} | {accuracy[(method, bias)]:P1} | {mse:E3} | {mseAll:E3} |");
                if (method == "sparsegpt" && bias) TeacherHarness.CheckedByOnnx(bytes, "SparseGPT");
                foreach (var note in result.Notes) TestContext.WriteLine($"  {method}{(bias ? "+bias" : "")}: {note}");
            }
        TestContext.WriteLine(table.ToString());
        foreach (var bias in new[] { false, true })
            Assert.IsTrue(accuracy[("sparsegpt", bias)] >= accuracy[("magnitude", bias)],
                $"bias {bias}: SparseGPT {accuracy[("sparsegpt", bias)]:P1} vs magnitude {accuracy[("magnitude", bias)]:P1}");
    }

    // Every group of 4 consecutive weights along K (W1 [K, N]: down a column; W2 [N, K] transposed: along a row) has ≥ 2 zeros.
    [TestMethod]
    [DataRow("none", 0.5)]
    [DataRow("2:4", 0.5)]
    public void WhenSparseGptPrunesConvLayers_OutputErrorIsBelowMagnitudeAndTheBiasCorrectionCentresTheOutput(string pattern, double sparsity)
    {
        using var files = new TeacherHarness.TempFiles();
        var (modelPath, calibration) = files.Write(TeacherHarness.ConvLayers(),
            TeacherHarness.CorrelatedRows(TeacherHarness.ConvImages, TeacherHarness.ConvChannels * TeacherHarness.ConvSize * TeacherHarness.ConvSize, seed: 23),
            TeacherHarness.ConvChannels, TeacherHarness.ConvSize, TeacherHarness.ConvSize);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);
        byte[] Prune(string method, bool bias)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = Run(model, context, ("method", method), ("pattern", pattern), ("sparsity", sparsity), ("block-size", 16), ("bias-correction", bias));
            TestContext.WriteLine($"{method}{(bias ? "+bias" : "")}: {string.Join("; ", result.Notes)}");
            Assert.AreEqual((2, 2), (result.Matched, result.Rewritten));
            var graph = Graph.Open(model);
            foreach (var name in new[] { "W1", "W2" })
            {
                var weight = graph.GetConstant(name);
                var w = weight.AsFloat().ToArray();
                if (pattern == "2:4")
                {
                    // Groups of 4 input channels at one kernel position: [O, I/g, kh, kw], 2 zeros in each.
                    var dims = weight.Dims;
                    long spatial = dims[2] * dims[3];
                    for (long o = 0; o < dims[0]; o++)
                        for (long c0 = 0; c0 < dims[1]; c0 += 4)
                            for (long p = 0; p < spatial; p++)
                            {
                                int zeros = 0;
                                for (long c = c0; c < c0 + 4; c++) if (w[(o * dims[1] + c) * spatial + p] == 0) zeros++;
                                Assert.IsTrue(zeros >= 2, $"{method} '{name}': {zeros} zeros in the group at [{o}, {c0}.., {p}]");
                            }
                }
                else Assert.IsTrue(w.LongCount(v => v == 0) >= (long)(sparsity * w.Length) - 32, $"{method} '{name}'");
            }
            return PassHarness.Bytes(model);
        }
        var magnitude = Prune("magnitude", false);
        var sparseGpt = Prune("sparsegpt", false);
        var corrected = Prune("sparsegpt", true);
        TeacherHarness.CheckedByOnnx(corrected, "Conv SparseGPT with bias correction");
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (magnitudeError, _, magnitudeShift) = TeacherHarness.Compare(teacher, magnitude, calibration, level, channelAxis: 1);
            var (sparseError, sparseCosine, sparseShift) = TeacherHarness.Compare(teacher, sparseGpt, calibration, level, channelAxis: 1);
            var (_, _, correctedShift) = TeacherHarness.Compare(teacher, corrected, calibration, level, channelAxis: 1);
            TestContext.WriteLine($"{pattern} {sparsity:P0}, {level}: relative output MSE magnitude {magnitudeError:E3}, SparseGPT {sparseError:E3} (cos {sparseCosine:F6}); " +
                $"max |mean channel shift| magnitude {magnitudeShift:E3}, SparseGPT {sparseShift:E3}, SparseGPT + bias correction {correctedShift:E3}");
            Assert.IsTrue(sparseError < magnitudeError, $"{level}: SparseGPT {sparseError} vs magnitude {magnitudeError}");
            Assert.IsTrue(correctedShift < sparseShift, $"{level}: bias correction {sparseShift} → {correctedShift}");
        }
    }

    private static void AssertTwoOfFour(float[] w, IReadOnlyList<long> dims, bool transposed, string name)
    {
        int rows = (int)dims[0], columns = (int)dims[1];
        int k = transposed ? columns : rows, n = transposed ? rows : columns;
        for (int c = 0; c < n; c++)
            for (int g = 0; g < k; g += 4)
            {
                int zeros = 0;
                for (int r = g; r < g + 4; r++) zeros += w[transposed ? c * k + r : r * n + c] == 0 ? 1 : 0;
                Assert.IsTrue(zeros >= 2, $"'{name}': output {c}, inputs {g}…{g + 3} have {zeros} zeros");
            }
    }

    private static PassResult Run(OnnxModel model, PassContext context, params (string Name, object Value)[] values) =>
        PassManager.Run(model, [new PassStep(Pass, Args(values))], validateEachPass: true, context: context)[0].Result;
}
