using CompressTasks.Engine.Tuning;
using CompressTasks.Runtime;
using CompressTasks.TestSupport;
using CompressTasks.Verification;

namespace CompressTasks.Engine.Tests.Tuning;

/// <summary>
/// <see cref="Tuner"/> on a real CNN: ppocr-cls (MobileNetV3-style, opset 9 upgraded to 13, weights lifted from
/// <c>Constant</c> nodes by the optimize preset), whose output is a 2-class softmax, so the budget is a tight cosine.
/// Candidates, from gentle to harsh: int8 per channel, int8 per tensor (no per-channel scales: smaller, but a few
/// layers' channels differ too much in range for one scale), and 95% magnitude pruning stored sparse (12 bytes a
/// non-zero: 0.6 byte a weight, below int8, and no layer takes it alone within a tight budget). The tuned model has to
/// beat uniform per-channel int8 by moving the layers that can take one scale to per-tensor, while uniform per-tensor
/// breaks the budget.
/// </summary>
[TestClass]
public sealed class TunerCnnTests
{
    private const double MinCosine = 0.9999;

    private static readonly string[] s_candidates =
        ["quantize-weights-int8", "quantize-weights-int8: { per-channel: false }", "prune-magnitude: { sparsity: 0.95, storage: sparse }"];

    private string _dir = null!;

    public TestContext TestContext { get; set; } = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-tune-cnn-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Common(string rest) =>
        $"extends: optimize\nopset: 13\ninputs:\n  x: [1, 3, 48, 192]\nverify:\n  min-cosine: {MinCosine}\n" + rest;

    [TestMethod]
    public void WhenPpocrClsIsTuned_ItMeetsTheBudgetOnHeldOutInputsAndIsSmallerThanEveryUniformCandidateThatDoes()
    {
        var model = TestPaths.SharedModel("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx");
        var tune = Tuner.Tune(model, Write("auto.yaml", Common("auto:\n  candidates:\n" + string.Concat(s_candidates.Select(c => $"    - {c}\n")))), new TuneOptions());

        // Held out: generated inputs with a seed neither the search (default seed) nor its back-off (7,000,001) used.
        var heldOut = new ComparisonOptions { PinnedShapes = new Dictionary<string, long[]> { ["x"] = [1, 3, 48, 192] }, Samples = 8, Seed = 424_242 };
        using var teacherSession = ModelSession.Open(model, heldOut.Runtime);
        var teacher = ModelComparer.Record(teacherSession, heldOut);
        (long Bytes, double Cosine) Build(string name, string recipe)
        {
            var output = Path.Combine(_dir, name + ".onnx");
            var result = Compressor.Run(new CompressionRequest(model, Write(name + ".yaml", recipe), output, _dir) { Verify = false });
            using var session = ModelSession.Open(output, heldOut.Runtime);
            return (result.OutputBytes, ModelComparer.Compare(teacher, session, heldOut).MinCosine);
        }

        var tuned = Build("tuned", tune.TunedRecipeText);
        var baseline = Build("base", Common(""));
        TestContext.WriteLine($"ppocr-cls, min-cosine {MinCosine}, cosine on 8 held-out generated inputs (seed {heldOut.Seed})");
        TestContext.WriteLine($"{"variant",-58} {"bytes",9} {"cosine",9} meets");
        TestContext.WriteLine($"{"optimize only",-58} {baseline.Bytes,9:N0} {baseline.Cosine,9:F6} {baseline.Cosine >= MinCosine}");
        TestContext.WriteLine($"{"tuned (" + tune.Assignment.Count(a => a.Value >= 0) + " of " + tune.Assignment.Count + " layers compressed)",-58} {tuned.Bytes,9:N0} {tuned.Cosine,9:F6} {tuned.Cosine >= MinCosine}");
        foreach (var treatment in Enumerable.Range(0, s_candidates.Length))
            TestContext.WriteLine($"  of which {s_candidates[treatment]}: {tune.Assignment.Count(a => a.Value == treatment)} layers");
        var uniform = s_candidates.Select((c, i) => (Candidate: c, Result: Build($"uniform{i}", Common($"passes:\n  - {c}\n")))).ToList();
        foreach (var (candidate, result) in uniform)
            TestContext.WriteLine($"{"uniform " + candidate,-58} {result.Bytes,9:N0} {result.Cosine,9:F6} {result.Cosine >= MinCosine}");
        TestContext.WriteLine("each layer alone on the tuning inputs, per candidate (bytes saved, cosine) → the treatment chosen (#candidate)");
        foreach (var layer in tune.Table.Layers)
            TestContext.WriteLine($"  {layer,-24} " + string.Join("; ", Enumerable.Range(0, s_candidates.Length)
                .Select(t => tune.Table.Find(layer, t) is { } cell ? $"#{t} {cell.BytesSaved,6:N0} {cell.Cosine:F6}" : $"#{t} -")) + $" → {(tune.Assignment[layer] < 0 ? "as is" : "#" + tune.Assignment[layer])}");

        Assert.IsGreaterThanOrEqualTo(MinCosine, tuned.Cosine, "the tuned model meets the budget on held-out inputs");
        int meeting = 0;
        foreach (var (candidate, result) in uniform.Where(u => u.Result.Cosine >= MinCosine))
        {
            meeting++;
            Assert.IsLessThan(result.Bytes, tuned.Bytes, $"tuned vs uniform {candidate}");
        }
        Assert.IsGreaterThan(0, meeting, "some uniform candidate meets the budget, so the comparison means something");
    }
}
