using System.Diagnostics;
using System.Globalization;
using CompressTasks.Diagnostics;
using CompressTasks.Engine;
using CompressTasks.Engine.Tuning;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using CompressTasks.Verification;

/// <summary>
/// <c>tune</c>: what <c>compress tune</c> buys over a uniform treatment. Per model and budget: the tuned model's size
/// and held-out cosine (and top-1 accuracy on mnist-mlp's labelled test set) next to each candidate applied uniformly
/// (does it meet the same budget?), the tuning time, and a second tune served by the cache.
/// </summary>
/// <remarks>
/// Held out: mnist-mlp's 1,000 test digits (the search tunes on its 200 calibration digits; its back-off looks at the
/// first 256 test digits); for the CNNs, 8 generated inputs with a seed neither the search nor its back-off used.
/// </remarks>
internal static class TuneBenchmark
{
    private sealed record Budget(string Name, string Verify, double MinCosine, double? MaxTop1Drop);

    private sealed record Case(string Name, string Model, string Common, string[] Candidates, Budget[] Budgets, Dictionary<string, long[]> Shapes, string? Evaluation, string? Labels)
    {
        /// <summary>Values pinned for generated inputs, as the recipe's <c>inputs:</c> pins them (silero-vad's sample rate).</summary>
        public Dictionary<string, IReadOnlyList<IReadOnlyList<double>>>? Values { get; init; }
    }

    private static readonly string[] s_cnnCandidates = ["quantize-weights-int8", "quantize-weights-int8: { per-channel: false }", "prune-magnitude: { sparsity: 0.95, storage: sparse }"];

    public static int Run(string[] args)
    {
        string? only = args is ["--model", var m, ..] ? m : null;
        Console.WriteLine($"tune: objective size; {Environment.ProcessorCount} cores; every tune from an empty cache, then again from the cache");
        foreach (var c in Cases().Where(c => only is null || c.Name.StartsWith(only, StringComparison.Ordinal)))
            Measure(c);
        return 0;
    }

    private static IEnumerable<Case> Cases()
    {
        var mnist = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = Path.Combine(Path.GetDirectoryName(mnist)!, "data");
        yield return new Case("mnist-mlp", mnist,
            $"extends: optimize\ncalibration: {data}/calib_images.npy\nevaluation: {data}/test_images.npy\nlabels: {data}/test_labels.npy\n",
            ["quantize-weights-int8", "quantize-weights-int8: { per-channel: false, symmetric: false }", "quantize-int4", "prune-magnitude: { sparsity: 0.95, storage: sparse }"],
            [
                new("min-cosine 0.9995 (tight)", "min-cosine: 0.9995", 0.9995, null),
                new("min-cosine 0.99 (loose)", "min-cosine: 0.99", 0.99, null),
                new("min-cosine 0.99 + max-top1-drop 0.5%", "min-cosine: 0.99\n  max-top1-drop: 0.5%", 0.99, 0.005),
            ],
            new() { ["input"] = [1, 784] }, Path.Combine(data, "test_images.npy"), Path.Combine(data, "test_labels.npy"));
        Budget[] cnn = [new("min-cosine 0.9999 (tight)", "min-cosine: 0.9999", 0.9999, null), new("min-cosine 0.99 (loose)", "min-cosine: 0.99", 0.99, null)];
        yield return Cnn("ppocr-cls", TestPaths.SharedModel("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx"), "x", [1, 3, 48, 192], cnn);
        yield return Cnn("wakeword-hello", TestPaths.SharedModel("wakeword-hello/hello_deepa.onnx"), null, [1, 25, 96], cnn,
            ["quantize-weights-int8", "quantize-weights-int8: { per-channel: false }", "quantize-int4", "prune-magnitude: { sparsity: 0.95, storage: sparse }"]);
        yield return Cnn("ppocr-det", TestPaths.SharedModel("ppocr-det/ch_PP-OCRv4_det_infer.onnx"), "x", [1, 3, 320, 320], cnn);
        yield return Cnn("resnet18", TestPaths.ResNet18, "Input247", [1, 3, 224, 224], cnn);
        // The weights live inside the If branches (16 kHz and 8 kHz); sr alternates so both branches run and are measured.
        yield return new Case("silero-vad-legacy", TestPaths.SharedModel("silero-vad-legacy/silero_vad_legacy.onnx"),
            "extends: optimize\ninputs:\n  input: [1, 512]\n  sr: { values: [8000, 16000] }\n  h: [2, 1, 64]\n  c: [2, 1, 64]\n",
            ["quantize-weights-int8: { min-elements: 256 }", "quantize-weights-int8: { per-channel: false, min-elements: 256 }"], cnn,
            new() { ["input"] = [1, 512], ["h"] = [2, 1, 64], ["c"] = [2, 1, 64] }, null, null)
        {
            Values = new() { ["sr"] = [[8000], [16000]] },
        };
    }

    private static Case Cnn(string name, string model, string? input, long[] shape, Budget[] budgets, string[]? candidates = null)
    {
        input ??= ReadInputName(model);
        return new Case(name, model, $"extends: optimize\nopset: 13\ninputs:\n  {input}: [{string.Join(", ", shape)}]\n", candidates ?? s_cnnCandidates, budgets,
            new() { [input] = shape }, null, null);
    }

    private static string ReadInputName(string model)
    {
        using var session = ModelSession.Open(model);
        return session.Inputs[0].Name;
    }

    private static void Measure(Case c)
    {
        var dir = Directory.CreateTempSubdirectory("ct-bench-tune-").FullName;
        try
        {
            string Write(string name, string text)
            {
                var path = Path.Combine(dir, name);
                File.WriteAllText(path, text);
                return path;
            }

            var options = new ComparisonOptions { PinnedShapes = c.Shapes, PinnedValues = c.Values, Samples = 8, Seed = 424_242 };
            using var teacherSession = ModelSession.Open(c.Model, options.Runtime);
            if (c.Evaluation is not null)
                options = options with { Feeds = FeedLoader.Load(c.Evaluation, teacherSession.Inputs, maxRows: 1000), Labels = FeedLoader.LoadLabels(c.Labels!) };
            var teacher = ModelComparer.Record(teacherSession, options);
            (long Bytes, ComparisonResult HeldOut) Build(string name, string recipe)
            {
                var output = Path.Combine(dir, name + ".onnx");
                var result = Compressor.Run(new CompressionRequest(c.Model, Write(name + ".yaml", recipe), output, dir) { Verify = false });
                using var session = ModelSession.Open(output, options.Runtime);
                return (result.OutputBytes, ModelComparer.Compare(teacher, session, options));
            }
            string Accuracy(ComparisonResult r) => Percent(r.StudentAccuracy);

            Console.WriteLine();
            Console.WriteLine($"{c.Name}: {new FileInfo(c.Model).Length / 1024.0:F0} KB; held out: {(c.Evaluation is null ? "8 generated inputs (seed 424242)" : "1,000 labelled test digits")}");
            var baseline = Build("base", c.Common);
            var uniform = new List<(string Candidate, long Bytes, ComparisonResult HeldOut)>();
            for (int i = 0; i < c.Candidates.Length; i++)
            {
                var (bytes, heldOut) = Build($"uniform{i}", c.Common + $"passes:\n  - {c.Candidates[i]}\n");
                uniform.Add((c.Candidates[i], bytes, heldOut));
            }
            foreach (var budget in c.Budgets)
            {
                var check = new AccuracyBudget(budget.MinCosine, null, budget.MaxTop1Drop);
                bool Meets(ComparisonResult r) => check.Check(r).Violations.Count == 0;
                var recipe = Write("auto.yaml", c.Common + $"verify:\n  {budget.Verify}\nauto:\n  candidates:\n" + string.Concat(c.Candidates.Select(x => $"    - {x}\n")));
                var cache = Path.Combine(dir, "cache-" + Guid.NewGuid().ToString("N"));
                var clock = Stopwatch.StartNew();
                TuneResult tune;
                try
                {
                    tune = Tuner.Tune(c.Model, recipe, new TuneOptions { CacheDirectory = cache });
                }
                catch (CompressTasksException e)
                {
                    Console.WriteLine($"  {budget.Name}: tune failed: {e.Code} {e.Message}");
                    continue;
                }
                double first = clock.Elapsed.TotalSeconds;
                clock.Restart();
                var again = Tuner.Tune(c.Model, recipe, new TuneOptions { CacheDirectory = cache });
                double second = clock.Elapsed.TotalSeconds;
                if (!again.FromCache || again.TunedRecipeText != tune.TunedRecipeText) throw new InvalidOperationException("the second tune did not come from the cache");
                var tuned = Build("tuned", tune.TunedRecipeText);

                Console.WriteLine();
                Console.WriteLine($"  {c.Name}, budget {budget.Name}: tuned in {first:F1} s ({tune.Table.Layers.Count} layers × {c.Candidates.Length} candidates, "
                    + $"{tune.Visited.Count - 2} combinations measured); from the cache {second * 1e3:F0} ms ({first / second:N0}× faster)");
                Console.WriteLine($"  {"variant",-72} {"size KB",8} {"cosine",9} {"top-1",6} {"meets",5}");
                Console.WriteLine($"  {"original",-72} {new FileInfo(c.Model).Length / 1024.0,8:F1} {1.0,9:F6} {Percent(baseline.HeldOut.TeacherAccuracy),6} {"",5}");
                Console.WriteLine($"  {"optimize only",-72} {baseline.Bytes / 1024.0,8:F1} {baseline.HeldOut.MinCosine,9:F6} {Accuracy(baseline.HeldOut),6} {YesNo(Meets(baseline.HeldOut)),5}");
                var mix = string.Join(", ", Enumerable.Range(-1, c.Candidates.Length + 1).Select(t => (t, n: tune.Assignment.Count(a => a.Value == t))).Where(x => x.n > 0)
                    .Select(x => $"{x.n} {(x.t < 0 ? "as is" : Short(c.Candidates[x.t]))}"));
                Console.WriteLine($"  {"TUNED: " + mix,-72} {tuned.Bytes / 1024.0,8:F1} {tuned.HeldOut.MinCosine,9:F6} {Accuracy(tuned.HeldOut),6} {YesNo(Meets(tuned.HeldOut)),5}");
                foreach (var (candidate, bytes, heldOut) in uniform)
                    Console.WriteLine($"  {"uniform " + candidate,-72} {bytes / 1024.0,8:F1} {heldOut.MinCosine,9:F6} {Accuracy(heldOut),6} {YesNo(Meets(heldOut)),5}");
                // Back-offs in full; "kept as is" once per layer would bury the table on ppocr-det, so as a count.
                foreach (var note in tune.Notes.Where(n => !n.Contains(" kept as is: ", StringComparison.Ordinal)))
                    Console.WriteLine($"  note: {note}");
                if (tune.Notes.Count(n => n.Contains(" kept as is: ", StringComparison.Ordinal)) is > 0 and var kept)
                    Console.WriteLine($"  note: {kept} layer(s) kept as is");
                var meeting = uniform.Where(u => Meets(u.HeldOut)).ToList();
                Console.WriteLine(meeting.Count == 0 ? "  no uniform candidate meets the budget on the held-out data"
                    : $"  tuned / smallest uniform that meets the budget: {(double)tuned.Bytes / meeting.Min(u => u.Bytes):P1}");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static string YesNo(bool b) => b ? "yes" : "no";

    private static string Short(string candidate) => candidate switch
    {
        "quantize-weights-int8" => "int8",
        "quantize-weights-int8: { per-channel: false }" => "int8/tensor",
        "quantize-weights-int8: { per-channel: false, symmetric: false }" => "int8/tensor asym",
        "quantize-int4" => "int4",
        "quantize-weights-int8: { min-elements: 256 }" => "int8",
        "quantize-weights-int8: { per-channel: false, min-elements: 256 }" => "int8/tensor",
        _ when candidate.StartsWith("prune-magnitude", StringComparison.Ordinal) => "pruned 95%",
        _ => candidate,
    };

    private static string Percent(double? a) => a is { } v ? v.ToString("P1", CultureInfo.InvariantCulture) : "";
}
