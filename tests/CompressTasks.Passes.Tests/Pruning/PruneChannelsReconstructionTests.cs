using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Pruning;
using CompressTasks.Runtime;

namespace CompressTasks.Passes.Tests.Pruning;

/// <summary>prune-channels with reconstruct: least-squares (the consumers refitted to the teacher's outputs).</summary>
[TestClass]
public sealed class PruneChannelsReconstructionTests
{
    private static readonly PruneChannels Pass = new();
    private const int Batch = 16, Rows = 256, Features = 12, Hidden = 9;

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value)).Append(new("min-elements", 1)));

    // x [16, 12] ─MatMul(W1 [12, 9])─▶ h ─Gemm(h, W2 [5, 9], b2, transB = 1)─▶ y. Columns 6, 7, 8 of W1 are small
    // linear combinations of columns 0…5, so h's channels 6…8 are the same combinations of channels 0…5: they have
    // the smallest norms (prune-channels removes them) and a refit of W2 can reproduce y exactly.
    private static OnnxModel Linear()
    {
        var random = new Random(3);
        var w1 = new float[Features * Hidden];
        for (int r = 0; r < Features; r++)
        {
            for (int c = 0; c < 6; c++) w1[r * Hidden + c] = random.NextSingle() * 2 - 1;
            w1[r * Hidden + 6] = 0.1f * (w1[r * Hidden] + w1[r * Hidden + 2]);
            w1[r * Hidden + 7] = 0.05f * (w1[r * Hidden + 1] - w1[r * Hidden + 3]);
            w1[r * Hidden + 8] = 0.08f * (w1[r * Hidden + 4] + 0.5f * w1[r * Hidden + 5]);
        }
        var m = new TestModels().Input("x", Batch, Features).Output("y", Batch, 5).Weight("W2", [5, Hidden], 4).Weight("b2", [5], 5);
        m.Graph.Initializer.Add(TestModels.Tensor("W1", [Features, Hidden], w1));
        m.Node("MatMul", ["x", "W1"], ["h"]).Node("Gemm", ["h", "W2", "b2"], ["y"], TestModels.Int("transB", 1));
        return m.Build();
    }

    [TestMethod]
    public void WhenCalibrationDataIsMissing_EveryGroupIsSkippedWithTheReason()
    {
        using var model = Linear();
        var before = PassHarness.Bytes(model);
        var result = PassManager.Run(model, [new PassStep(Pass, Args(("reconstruct", "least-squares"), ("ratio", 0.34)))], validateEachPass: true, context: PassContext.None)[0].Result;
        TestContext.WriteLine(string.Join("\n", result.Notes));
        Assert.AreEqual(0, result.Rewritten);
        Assert.IsTrue(result.Notes.Any(n => n.Contains("calibration:", StringComparison.Ordinal)), string.Join("; ", result.Notes));
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model), "nothing changed");
    }

    [TestMethod]
    public void WhenRemovedChannelsAreLinearCombinationsOfKeptOnes_TheRefitReproducesTheTeacher()
    {
        using var files = new TeacherHarness.TempFiles();
        var (modelPath, calibration) = files.Write(Linear(), TeacherHarness.CorrelatedRows(Rows, Features, seed: 2), Features);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);
        byte[] Prune(string reconstruct)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = PassManager.Run(model, [new PassStep(Pass, Args(("reconstruct", reconstruct), ("ratio", 0.34), ("damp", 1e-9)))], validateEachPass: true, context: context)[0].Result;
            foreach (var note in result.Notes) TestContext.WriteLine($"{reconstruct}: {note}");
            Assert.AreEqual(1, result.Rewritten, string.Join("; ", result.Notes));
            var dims = model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => string.Join(",", t.Dims));
            Assert.AreEqual(("12,6", "5,6"), (dims["W1"], dims["W2"]), "channels 6…8 removed");
            return PassHarness.Bytes(model);
        }
        var plain = Prune("none");
        var refit = Prune("least-squares");
        CollectionAssert.AreEqual(refit, Prune("least-squares"), "same inputs, same bytes");
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (plainError, _, _) = TeacherHarness.Compare(teacher, plain, calibration, level);
            var (refitError, cosine, _) = TeacherHarness.Compare(teacher, refit, calibration, level);
            TestContext.WriteLine($"{level}: relative output MSE on calibration data without refit {plainError:E3}, with {refitError:E3} (cos {cosine:F9})");
            // Exact up to float32 (the data, H and the solve are single → double → single) and the 1e-9 ridge.
            Assert.IsTrue(refitError < 1e-9, $"{level}: refit error {refitError}");
            Assert.IsTrue(plainError > 1e-4, $"{level}: removing the channels alone must change y ({plainError})");
        }
        // On inputs the refit never saw (another seed), it is exact too: the combination holds for every x.
        using var unseen = new TeacherHarness.TempFiles();
        var (_, other) = unseen.Write(Linear(), TeacherHarness.CorrelatedRows(Rows, Features, seed: 11), Features);
        var (heldOut, _, _) = TeacherHarness.Compare(teacher, refit, other, OptimizationLevel.Disabled);
        TestContext.WriteLine($"held-out rows: relative output MSE {heldOut:E3}");
        Assert.IsTrue(heldOut < 1e-9, $"held out: {heldOut}");
    }

    // x [16, 4, 5, 5] ─Conv(A [6, 4, 1, 1])─▶ h ─Conv(B [3, 6, 3, 3], pads 1, stride 2)─▶ z. Filters 4 and 5 of A are
    // small combinations of filters 0…3, so h's channels 4, 5 are those combinations of channels 0…3 at every pixel
    // (and every im2col patch of them, padding included): they go, and a refit of B over the kept channels' patches
    // reproduces z exactly.
    [TestMethod]
    public void WhenRemovedChannelsFeedingAConvAreCombinationsOfKeptOnes_TheConvRefitReproducesTheTeacher()
    {
        var random = new Random(8);
        var a = new float[6 * 4];
        for (int i = 0; i < 16; i++) a[i] = random.NextSingle() * 2 - 1;
        for (int c = 0; c < 4; c++)
        {
            a[16 + c] = 0.1f * (a[c] - a[8 + c]);
            a[20 + c] = 0.05f * (a[4 + c] + 0.5f * a[12 + c]);
        }
        var m = new TestModels().Input("x", Batch, 4, 5, 5).Output("z", Batch, 3, 3, 3).Weight("B", [3, 6, 3, 3], 6);
        m.Graph.Initializer.Add(TestModels.Tensor("A", [6, 4, 1, 1], a));
        m.Node("Conv", ["x", "A"], ["h"]).Node("Conv", ["h", "B"], ["z"], TestModels.Ints("pads", 1, 1, 1, 1), TestModels.Ints("strides", 2, 2));
        using var files = new TeacherHarness.TempFiles();
        var (modelPath, calibration) = files.Write(m.Build(), TeacherHarness.CorrelatedRows(Rows, 100, seed: 6), 4, 5, 5);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);
        byte[] Prune(string reconstruct)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = PassManager.Run(model, [new PassStep(Pass, Args(("reconstruct", reconstruct), ("ratio", 0.34), ("damp", 1e-9)))], validateEachPass: true, context: context)[0].Result;
            foreach (var note in result.Notes) TestContext.WriteLine($"{reconstruct}: {note}");
            Assert.AreEqual(1, result.Rewritten, string.Join("; ", result.Notes));
            if (reconstruct != "none") Assert.IsTrue(result.Notes.Any(n => n.Contains("least-squares refit of 36 of 54 inputs", StringComparison.Ordinal)), "4 kept channels × 9 patch features");
            var dims = model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => string.Join(",", t.Dims));
            Assert.AreEqual(("4,4,1,1", "3,4,3,3"), (dims["A"], dims["B"]), "channels 4, 5 removed");
            return PassHarness.Bytes(model);
        }
        var plain = Prune("none");
        var refit = Prune("least-squares");
        TeacherHarness.CheckedByOnnx(refit, "Conv refit");
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var (plainError, _, _) = TeacherHarness.Compare(teacher, plain, calibration, level);
            var (refitError, cosine, _) = TeacherHarness.Compare(teacher, refit, calibration, level);
            TestContext.WriteLine($"{level}: relative output MSE on calibration data without refit {plainError:E3}, with {refitError:E3} (cos {cosine:F9})");
            Assert.IsTrue(refitError < 1e-9, $"{level}: refit error {refitError}");
            Assert.IsTrue(plainError > 1e-4, $"{level}: removing the channels alone must change z ({plainError})");
        }
    }

    // x [16, 2, 4, 4] ─Conv(A [6, 2, 3, 3], pads 1)─Relu─▶ r ─┬─Flatten─Gemm(F [96, 5])─▶ y
    //                                                       └─Conv(B [3, 6, 3, 3], pads 1)─▶ z
    // Half of A's channels go: the Gemm reads them flattened (each channel owns 16 features) and the Conv as im2col
    // patches (9 features per channel); both are refitted.
    [TestMethod]
    public void WhenChannelsFeedAFlattenedGemmAndAConv_BothAreRefitted()
    {
        var m = new TestModels().Input("x", Batch, 2, 4, 4).Output("y", Batch, 5).Output("z", Batch, 3, 4, 4)
            .Weight("A", [6, 2, 3, 3], 1).Weight("F", [96, 5], 2).Weight("B", [3, 6, 3, 3], 3);
        m.Node("Conv", ["x", "A"], ["c"], TestModels.Ints("pads", 1, 1, 1, 1)).Node("Relu", ["c"], ["r"])
            .Node("Flatten", ["r"], ["f"], TestModels.Int("axis", 1)).Node("Gemm", ["f", "F"], ["y"]).Node("Conv", ["r", "B"], ["z"], TestModels.Ints("pads", 1, 1, 1, 1));
        using var files = new TeacherHarness.TempFiles();
        var (modelPath, calibration) = files.Write(m.Build(), TeacherHarness.CorrelatedRows(Rows, 32, seed: 4), 2, 4, 4);
        var context = new PassContext(modelPath, calibration);
        var teacher = File.ReadAllBytes(modelPath);
        (byte[] Bytes, PassResult Result) Prune(string reconstruct)
        {
            using var model = OnnxModel.Load(modelPath);
            var result = PassManager.Run(model, [new PassStep(Pass, Args(("reconstruct", reconstruct), ("ratio", 0.5)))], validateEachPass: true, context: context)[0].Result;
            foreach (var note in result.Notes) TestContext.WriteLine($"{reconstruct}: {note}");
            Assert.AreEqual(1, result.Rewritten, string.Join("; ", result.Notes));
            return (PassHarness.Bytes(model), result);
        }
        var (plain, _) = Prune("none");
        var (refit, notes) = Prune("least-squares");
        Assert.IsTrue(notes.Notes.Any(n => n.Contains("least-squares refit of 48 of 96 inputs", StringComparison.Ordinal)), "3 kept channels × 16 features");
        Assert.IsTrue(notes.Notes.Any(n => n.Contains("least-squares refit of 27 of 54 inputs", StringComparison.Ordinal)), "3 kept channels × 9 patch features");
        using (var p = OnnxModel.Parse(plain))
        using (var r = OnnxModel.Parse(refit))
        {
            var stored = r.Proto.Graph.Initializer.ToDictionary(t => t.Name);
            foreach (var t in p.Proto.Graph.Initializer)
                Assert.AreEqual(t.Name is "F" or "B", !t.RawData.Equals(stored[t.Name].RawData), $"'{t.Name}': the Gemm's and the Conv's weights are refitted");
        }
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
            foreach (var output in new[] { 0, 1 })
            {
                var (plainError, _, _) = TeacherHarness.Compare(teacher, plain, calibration, level, output: output);
                var (refitError, _, _) = TeacherHarness.Compare(teacher, refit, calibration, level, output: output);
                TestContext.WriteLine($"{level}: relative MSE of output {output} on calibration data without refit {plainError:E3}, with {refitError:E3}");
                Assert.IsTrue(refitError < plainError, $"{level}, output {output}: refit {refitError} vs none {plainError}");
            }
    }

    [TestMethod]
    public void WhenHalfOfMnistMlpsHiddenChannelsArePruned_TheRefitIsNotLessAccurate()
    {
        var mnist = TeacherHarness.Mnist.Load();
        var teacher = File.ReadAllBytes(mnist.Path);
        var accuracy = new Dictionary<string, double>();
        var error = new Dictionary<string, double>();
        foreach (var reconstruct in new[] { "none", "least-squares" })
        {
            using var model = OnnxModel.Load(mnist.Path);
            var result = PassManager.Run(model, [new PassStep(Pass, Args(("reconstruct", reconstruct), ("ratio", 0.5), ("criterion", "l2")))], validateEachPass: true, context: mnist.Context)[0].Result;
            foreach (var note in result.Notes) TestContext.WriteLine($"  {reconstruct}: {note}");
            Assert.AreEqual(2, result.Rewritten, string.Join("; ", result.Notes));
            var bytes = PassHarness.Bytes(model);
            accuracy[reconstruct] = mnist.Top1(bytes);
            error[reconstruct] = TeacherHarness.Compare(teacher, bytes, mnist.Images, OptimizationLevel.Disabled).Mse;
            var all = TeacherHarness.Compare(teacher, bytes, mnist.Images, OptimizationLevel.All).Mse;
            TestContext.WriteLine($"reconstruct {reconstruct}: top-1 {accuracy[reconstruct]:P1}, relative output MSE vs fp32 {error[reconstruct]:E3} (ORT Disabled), {all:E3} (All)");
            if (reconstruct != "none") TeacherHarness.CheckedByOnnx(bytes, "channel-pruned, refitted");
        }
        TestContext.WriteLine($"mnist-mlp, 50% of fc1's and fc2's output channels removed (L2), {mnist.Labels.Length} held-out images, fp32 {mnist.Top1(teacher):P1}: {accuracy["none"]:P1} without refit, {accuracy["least-squares"]:P1} with");
        Assert.IsTrue(accuracy["least-squares"] >= accuracy["none"], $"refit {accuracy["least-squares"]:P1} vs none {accuracy["none"]:P1}");
        Assert.IsTrue(error["least-squares"] < error["none"], $"refit output error {error["least-squares"]} vs none {error["none"]}");
    }
}
