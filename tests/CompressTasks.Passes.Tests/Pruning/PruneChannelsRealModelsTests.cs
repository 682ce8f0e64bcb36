using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Pruning;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using CompressTasks.Verification;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Pruning;

/// <summary>
/// prune-channels on the real CNNs at 10/25/50%: the result loads and runs in ONNX Runtime with the original's output
/// shapes, onnx.checker accepts it (where it accepts the original), and it has fewer parameters and FLOPs. Printed:
/// parameters, FLOPs, file size, latency ratio, output cosine and top-1 agreement over seeded random inputs (these
/// models come without evaluation data). No fine-tuning follows, so agreement at 50% is low: that is the figure a
/// user needs before choosing a ratio, not a defect.
/// </summary>
[TestClass]
public sealed class PruneChannelsRealModelsTests
{
    public TestContext TestContext { get; set; } = null!;

    public static IEnumerable<object[]> Cases() =>
        from model in new[] { "resnet18", "ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx", "ppocr-det/ch_PP-OCRv4_det_infer.onnx" }
        from run in new[] { (0.1, "l1"), (0.25, "l1"), (0.5, "l1"), (0.25, "bn-gamma") }
        select new object[] { model, run.Item1, run.Item2 };

    public static (string Path, Dictionary<string, long[]> Shapes) ModelFor(string name) => name switch
    {
        "resnet18" => (TestPaths.ResNet18, new() { ["Input247"] = [1, 3, 224, 224] }),
        _ when name.StartsWith("ppocr-cls", StringComparison.Ordinal) => (TestPaths.SharedModel(name), new() { ["x"] = [1, 3, 48, 192] }),
        _ => (TestPaths.SharedModel(name), new() { ["x"] = [1, 3, 320, 320] }),
    };

    [TestMethod]
    [DynamicData(nameof(Cases))]
    public void WhenChannelsArePruned_TheModelIsSmallerCheaperAndStillRuns(string name, double ratio, string criterion)
    {
        var (path, shapes) = ModelFor(name);
        var pass = new PruneChannels();
        using var model = OnnxModel.Load(path);
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, pass, new PassArguments(pass.Descriptor, [new("ratio", ratio), new("criterion", criterion)]));
        var after = PassHarness.Bytes(model);

        Dictionary<string, TensorValue> feed;
        using (var session = ModelSession.Open(before, "inputs")) feed = InputGenerator.Generate(session.Inputs, shapes, 0);
        var costBefore = ModelCost.Compute(ModelProto.Parser.ParseFrom(before), feed);
        var costAfter = ModelCost.Compute(ModelProto.Parser.ParseFrom(after), feed);
        var (cosine, top1) = PruningMeasures.Agreement(before, after, shapes, samples: 4);
        double latency = PruningMeasures.LatencyMs(after, shapes) / PruningMeasures.LatencyMs(before, shapes);
        TestContext.WriteLine($"{Path.GetFileName(path)} prune-channels {ratio:P0} {criterion}: {result.Rewritten} of {result.Matched} groups pruned; "
            + $"params {costBefore.Parameters:N0} → {costAfter.Parameters:N0} ({(double)costAfter.Parameters / costBefore.Parameters:P1}), "
            + $"FLOPs {costBefore.Flops / 1e6:N1}M → {costAfter.Flops / 1e6:N1}M ({(double)costAfter.Flops / costBefore.Flops:P1}), "
            + $"size {before.Length:N0} → {after.Length:N0} bytes, latency ×{latency:F2}, output cosine {cosine:F4}, top-1 agreement {top1:P0}");
        foreach (var note in result.Notes.Where(n => n.StartsWith("channels of", StringComparison.Ordinal)).Take(4)) TestContext.WriteLine("  skipped: " + note);
        TestContext.WriteLine("  " + result.Notes[^1]);

        Assert.IsTrue(result.Rewritten > 0);
        Assert.IsTrue(costAfter.Parameters < costBefore.Parameters && costAfter.Flops < costBefore.Flops);
        Assert.IsTrue(after.Length < before.Length);
        // Both ORT levels run the pruned model with the original's output shapes (Agreement checks shapes).
        PruningMeasures.Agreement(before, after, shapes, samples: 1, OptimizationLevel.Disabled);
        if (PruningMeasures.CheckerError(before) is { } originalError) TestContext.WriteLine($"onnx.checker rejects the original too: {originalError}");
        else Assert.IsNull(PruningMeasures.CheckerError(after));
    }

    /// <summary>
    /// Exactness on the real topologies (residual Adds, SE blocks, depthwise convs, BN, IR 3 input declarations): in
    /// every group, mask the channels c ≡ 1 (mod 4) (the first ⌊C/4⌋ of them) so they are exactly zero (BN γ = β = 0,
    /// or weight rows and bias 0 where no BN follows). Pruning 25% by bn-gamma (L1 where no BN) removes exactly those,
    /// so the pruned model must give the masked model's outputs.
    /// </summary>
    [TestMethod]
    [DataRow("resnet18", 256)]
    [DataRow("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx", 256)]
    [DataRow("ppocr-det/ch_PP-OCRv4_det_infer.onnx", 256)]
    [DataRow("ppocr-det/ch_PP-OCRv4_det_infer.onnx", 1)]
    public void WhenTheChannelsToPruneAreZero_ThePrunedModelGivesTheSameOutputs(string name, int minElements)
    {
        var (path, shapes) = ModelFor(name);
        using var model = OnnxModel.Load(path);
        int masked = Mask(Graphs.Graph.Open(model));
        var before = PassHarness.Bytes(model);
        var concatReaders = ConcatReaderWidths(model);
        var pass = new PruneChannels();
        var result = PassHarness.Run(model, pass, new PassArguments(pass.Descriptor, [new("ratio", 0.25), new("criterion", "bn-gamma"), new("min-elements", minElements)]));
        TestContext.WriteLine($"{Path.GetFileName(path)} (min-elements {minElements}): {masked} layers masked, {result.Rewritten} of {result.Matched} groups pruned; {result.Notes[^1]}; "
            + $"Concat readers' input channels {string.Join(", ", concatReaders.Select(r => $"{r.Key} {r.Value} → {ConcatReaderWidths(model)[r.Key]}"))}");
        Assert.IsTrue(result.Rewritten > 0);
        // With the FPN's small SE layers selected too (min-elements 1), its four branches are pruned through the Concat.
        if (minElements == 1) Assert.IsTrue(concatReaders.All(r => ConcatReaderWidths(model)[r.Key] < r.Value), string.Join("\n", result.Notes));
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), shapes, rtol: 1e-4, atol: 1e-5, samples: 1);
    }

    [TestMethod]
    [DataRow(0.1)]
    [DataRow(0.25)]
    public void WhenPpocrDetIsPrunedThroughItsFpnConcat_ItRunsCheckerAcceptsItAndItIsCheaper(double ratio)
    {
        var (path, shapes) = ModelFor("ppocr-det/ch_PP-OCRv4_det_infer.onnx");
        var pass = new PruneChannels();
        using var model = OnnxModel.Load(path);
        var before = PassHarness.Bytes(model);
        var widths = ConcatReaderWidths(model);
        var result = PassHarness.Run(model, pass, new PassArguments(pass.Descriptor, [new("ratio", ratio), new("min-elements", 1)]));
        var after = PassHarness.Bytes(model);

        Dictionary<string, TensorValue> feed;
        using (var session = ModelSession.Open(before, "inputs")) feed = InputGenerator.Generate(session.Inputs, shapes, 0);
        var costBefore = ModelCost.Compute(ModelProto.Parser.ParseFrom(before), feed);
        var costAfter = ModelCost.Compute(ModelProto.Parser.ParseFrom(after), feed);
        var (cosine, _) = PruningMeasures.Agreement(before, after, shapes, samples: 4);
        TestContext.WriteLine($"ppocr-det prune-channels {ratio:P0} (min-elements 1): {result.Rewritten} of {result.Matched} groups pruned; "
            + $"params {costBefore.Parameters:N0} → {costAfter.Parameters:N0} ({(double)costAfter.Parameters / costBefore.Parameters:P1}), "
            + $"FLOPs {costBefore.Flops / 1e6:N1}M → {costAfter.Flops / 1e6:N1}M ({(double)costAfter.Flops / costBefore.Flops:P1}), output cosine {cosine:F4} (random pixels: not informative); "
            + $"Concat readers' input channels {string.Join(", ", widths.Select(r => $"{r.Key} {r.Value} → {ConcatReaderWidths(model)[r.Key]}"))}");
        foreach (var note in result.Notes.Where(n => n.StartsWith("channels of", StringComparison.Ordinal))) TestContext.WriteLine("  skipped: " + note);

        Assert.IsTrue(widths.Count > 0 && widths.All(r => ConcatReaderWidths(model)[r.Key] < r.Value), "the Concat's readers lose input channels");
        Assert.IsTrue(costAfter.Parameters < costBefore.Parameters && costAfter.Flops < costBefore.Flops);
        PruningMeasures.Agreement(before, after, shapes, samples: 1, OptimizationLevel.Disabled);
        Assert.IsNull(PruningMeasures.CheckerError(after));
    }

    // The input channels (weight axis 1) of every Conv that reads a Concat's output, by weight name.
    private static Dictionary<string, long> ConcatReaderWidths(OnnxModel model)
    {
        var graph = Graphs.Graph.Open(model);
        var widths = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var concat in graph.Nodes.Where(n => n.Is("Concat")))
            foreach (var (reader, _) in graph.GetConsumers(concat.Outputs[0]))
                if (reader.Is("Conv") && graph.TryGetConstant(reader.Inputs[1]) is { } weight) widths[weight.Name] = weight.Dims[1];
        return widths;
    }

    private static bool Masked(int c, int channels) => c % 4 == 1 && c / 4 < channels / 4;

    private static int Mask(Graphs.Graph graph)
    {
        int masked = 0;
        void Zero(string name, int axis)
        {
            var constant = graph.TryGetConstant(name);
            if (constant is null || constant.DataType != 1) return;
            var values = constant.AsFloat().ToArray();
            int channels = (int)constant.Dims[axis];
            long inner = values.Length / channels;
            for (int i = 0; i < values.Length; i++) if (Masked((int)(i / inner), channels)) values[i] = 0;
            constant.Replace(1, constant.Dims.ToArray(), System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
        foreach (var node in graph.Nodes)
        {
            if (node.Is("BatchNormalization"))
            {
                Zero(node.Inputs[1], 0);
                Zero(node.Inputs[2], 0);
                masked++;
            }
            else if (node.Is("Conv") && node.GetInt("group", 1) == 1 && !graph.GetConsumers(node.Outputs[0]).Any(c => c.Node.Is("BatchNormalization")))
            {
                Zero(node.Inputs[1], 0);
                if (node.Inputs.Count > 2) Zero(node.Inputs[2], 0);
                masked++;
            }
        }
        return masked;
    }
}
