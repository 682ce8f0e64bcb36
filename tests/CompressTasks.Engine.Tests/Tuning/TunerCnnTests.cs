using CompressTasks.Engine.Tuning;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using CompressTasks.Verification;

namespace CompressTasks.Engine.Tests.Tuning;

/// <summary>
/// <see cref="Tuner"/> on the real CNNs: each tune must meet its budget on held-out inputs the search never scored and
/// be no larger than every candidate applied uniformly that meets the same budget there (the test prints the table).
/// </summary>
/// <remarks>
/// ppocr-cls (MobileNetV3-style, opset 9 upgraded to 13, weights lifted from <c>Constant</c> nodes by the optimize
/// preset), whose output is a 2-class softmax, so the budget is a tight cosine. Candidates, from gentle to harsh: int8 per
/// channel, int8 per tensor (no per-channel scales: smaller, but a few layers' channels differ too much in range for one
/// scale), and 95% magnitude pruning stored sparse (12 bytes a non-zero: 0.6 byte a weight, below int8, and no layer
/// takes it alone within a tight budget). The tuned model has to beat uniform per-channel int8 by moving the layers that
/// can take one scale to per-tensor, while uniform per-tensor breaks the budget. ResNet-18 (opset 8, upgraded to 13 by
/// the recipe as the benchmark does) and ppocr-det take the two int8 candidates only, to keep the tests affordable.
/// </remarks>
[TestClass]
public sealed class TunerCnnTests
{
    private static readonly string[] s_clsCandidates =
        ["quantize-weights-int8", "quantize-weights-int8: { per-channel: false }", "prune-magnitude: { sparsity: 0.95, storage: sparse }"];

    private static readonly string[] s_int8Candidates = ["quantize-weights-int8", "quantize-weights-int8: { per-channel: false }"];

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

    [TestMethod]
    public void WhenPpocrClsIsTuned_ItMeetsTheBudgetOnHeldOutInputsAndIsSmallerThanEveryUniformCandidateThatDoes()
    {
        var model = TestPaths.SharedModel("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx");
        var heldOut = new ComparisonOptions { PinnedShapes = new Dictionary<string, long[]> { ["x"] = [1, 3, 48, 192] }, Samples = 8, Seed = 424_242 };
        var (tuned, uniform) = TuneAndCompare("ppocr-cls", model, "extends: optimize\nopset: 13\ninputs:\n  x: [1, 3, 48, 192]\n", 0.9999, s_clsCandidates, heldOut);
        foreach (var (candidate, result) in uniform.Where(u => u.Result.Cosine >= 0.9999))
            Assert.IsLessThan(result.Bytes, tuned.Bytes, $"tuned vs uniform {candidate}: strictly smaller here");
    }

    // ResNet-18 ends in a 512-feature pooling output; uniform per-channel int8 holds min-cosine 0.999 on it, per-tensor does not.
    [TestMethod]
    public void WhenResNet18IsTuned_ItMeetsTheBudgetOnHeldOutInputsAndIsNoLargerThanEveryUniformCandidateThatDoes()
    {
        var heldOut = new ComparisonOptions { Samples = 2, Seed = 424_242, Runtime = new RuntimeOptions { IntraOpThreads = 1 } };
        TuneAndCompare("ResNet-18", TestPaths.ResNet18, "extends: optimize\nopset: 13\n", 0.999, s_int8Candidates, heldOut);
    }

    // ppocr-det's output is a text probability map: on random inputs it is ~1e-6 everywhere (no text), so cosine reads
    // rounding noise. It is tuned and judged on synthetic pages instead: dark strokes in lines of "characters" on a light
    // background, 64×64, normalised as PaddleOCR does ((x/255 − mean) / std per channel); 50 pages to tune on (the
    // calibration file) and 50 others held out (the evaluation file). Budget 0.995: uniform per-channel int8 meets it on
    // these pages, per-tensor does not (at 0.999 neither does, and the comparison would mean nothing).
    [TestMethod]
    public void WhenPpocrDetIsTunedOnTextLikeImages_ItMeetsTheBudgetOnHeldOutImagesAndIsNoLargerThanEveryUniformCandidateThatDoes()
    {
        var model = TestPaths.SharedModel("ppocr-det/ch_PP-OCRv4_det_infer.onnx");
        NpyFile.Write(Path.Combine(_dir, "pages-calib.npy"), Pages(50, seed: 1), 50, 3, 64, 64);
        NpyFile.Write(Path.Combine(_dir, "pages-eval.npy"), Pages(50, seed: 2), 50, 3, 64, 64);
        using var teacher = ModelSession.Open(model);
        var heldOut = new ComparisonOptions
        {
            Feeds = FeedLoader.Load(Path.Combine(_dir, "pages-eval.npy"), teacher.Inputs, 50),
            Runtime = new RuntimeOptions { IntraOpThreads = 1 },
        };
        TuneAndCompare("ppocr-det", model, "extends: optimize\nopset: 13\ncalibration: pages-calib.npy\nevaluation: pages-eval.npy\n", 0.995, s_int8Candidates, heldOut);
    }

    // Pages of pseudo-text: rows of dark rectangles (strokes of characters) of random width and gap on a light background.
    private static float[] Pages(int count, int seed)
    {
        const int Size = 64;
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        var random = new Random(seed);
        var values = new float[count * 3 * Size * Size];
        var page = new float[Size * Size];
        for (int n = 0; n < count; n++)
        {
            page.AsSpan().Fill(0.9f + 0.1f * random.NextSingle());
            for (int top = 4 + random.Next(4); top + 10 < Size; top += 14 + random.Next(6))
            {
                int height = 6 + random.Next(4);
                for (int left = 2 + random.Next(6); left < Size - 4; left += 2 + random.Next(4))
                {
                    int width = 1 + random.Next(4);
                    float ink = 0.05f + 0.2f * random.NextSingle();
                    for (int y = top; y < top + height; y++)
                        for (int x = left; x < Math.Min(Size, left + width); x++)
                            page[y * Size + x] = ink;
                    left += width;
                }
            }
            for (int c = 0; c < 3; c++)
                for (int i = 0; i < page.Length; i++)
                    values[((n * 3) + c) * page.Length + i] = (page[i] - mean[c]) / std[c];
        }
        return values;
    }

    // Tunes with `auto:` over the candidates, builds the tuned recipe, the base and each candidate uniformly, prints the
    // table (cosine on the held-out feeds), asserts the tuned model meets the budget there and is no larger than every
    // uniform candidate that does, and that at least one does (so the comparison means something).
    private ((long Bytes, double Cosine) Tuned, List<(string Candidate, (long Bytes, double Cosine) Result)> Uniform) TuneAndCompare(
        string label, string model, string common, double minCosine, string[] candidates, ComparisonOptions heldOut)
    {
        string Common(string rest) => common + $"verify:\n  min-cosine: {minCosine}\n  threads: 1\n" + rest;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var tune = Tuner.Tune(model, Write("auto.yaml", Common("auto:\n  candidates:\n" + string.Concat(candidates.Select(c => $"    - {c}\n")))), new TuneOptions());
        var tuneSeconds = clock.Elapsed.TotalSeconds;

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
        var uniform = candidates.Select((c, i) => (Candidate: c, Result: Build($"uniform{i}", Common($"passes:\n  - {c}\n")))).ToList();
        TestContext.WriteLine($"{label}, min-cosine {minCosine}, cosine on {teacher.Feeds.Count} held-out feed(s); tune took {tuneSeconds:0.0} s, all {clock.Elapsed.TotalSeconds:0.0} s");
        TestContext.WriteLine($"{"variant",-58} {"bytes",12} {"cosine",9} meets");
        TestContext.WriteLine($"{"optimize only",-58} {baseline.Bytes,12:N0} {baseline.Cosine,9:F6} {baseline.Cosine >= minCosine}");
        TestContext.WriteLine($"{"tuned (" + tune.Assignment.Count(a => a.Value >= 0) + " of " + tune.Assignment.Count + " layers compressed)",-58} {tuned.Bytes,12:N0} {tuned.Cosine,9:F6} {tuned.Cosine >= minCosine}");
        foreach (var treatment in Enumerable.Range(0, candidates.Length))
            TestContext.WriteLine($"  of which {candidates[treatment]}: {tune.Assignment.Count(a => a.Value == treatment)} layers");
        foreach (var (candidate, result) in uniform)
            TestContext.WriteLine($"{"uniform " + candidate,-58} {result.Bytes,12:N0} {result.Cosine,9:F6} {result.Cosine >= minCosine}");
        foreach (var note in tune.Notes) TestContext.WriteLine($"note: {note}");
        TestContext.WriteLine("each layer alone on the tuning inputs, per candidate (bytes saved, cosine) → the treatment chosen (#candidate)");
        foreach (var layer in tune.Table.Layers)
            TestContext.WriteLine($"  {layer,-24} " + string.Join("; ", Enumerable.Range(0, candidates.Length)
                .Select(t => tune.Table.Find(layer, t) is { } cell ? $"#{t} {cell.BytesSaved,9:N0} {cell.Cosine:F6}" : $"#{t} -")) + $" → {(tune.Assignment[layer] < 0 ? "as is" : "#" + tune.Assignment[layer])}");

        Assert.IsGreaterThanOrEqualTo(minCosine, tuned.Cosine, "the tuned model meets the budget on held-out inputs");
        int meeting = 0;
        foreach (var (candidate, result) in uniform.Where(u => u.Result.Cosine >= minCosine))
        {
            meeting++;
            Assert.IsLessThanOrEqualTo(result.Bytes, tuned.Bytes, $"tuned vs uniform {candidate}");
        }
        Assert.IsGreaterThan(0, meeting, "some uniform candidate meets the budget, so the comparison means something");
        return (tuned, uniform);
    }
}
