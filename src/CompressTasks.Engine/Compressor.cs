using System.Diagnostics;
using System.Reflection;
using CompressTasks.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Engine.Tuning;
using CompressTasks.Recipe;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.Verification;

namespace CompressTasks.Engine;

/// <summary>
/// The one pipeline the CLI and the MSBuild task call: recipe → load → passes → atomic save → verify → report.
/// </summary>
/// <remarks>
/// Data flows one way: bytes become an <see cref="OnnxModel"/>, the recipe's passes edit it through the graph IR,
/// the result is written atomically, then original (teacher) and result (student) run side by side in ONNX Runtime
/// and the report is written. A result that breaks the recipe's accuracy budget is deleted and the run fails with
/// CT3003; its report stays, so the numbers are there to read. With a cache folder, an unchanged job (same model,
/// data, recipe and tool) is copied from the cache instead of being recompressed.
/// </remarks>
public static class Compressor
{
    /// <summary>The tool's version; part of every cache key, so a new version never reuses old results.</summary>
    /// <summary>The resolved recipe of an <c>auto:</c> recipe, written beside the report: <c>model.onnx.tuned.yaml</c>.</summary>
    public const string TunedRecipeSuffix = ".tuned.yaml";

    public static string ToolVersion { get; } =
        typeof(Compressor).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0";

    /// <summary>
    /// Compresses one model. Failures are <see cref="CompressTasksException"/>s carrying a code and a file (several
    /// recipe errors come as an <see cref="AggregateException"/> of them); the output is written atomically, so a
    /// failure never leaves a partial model at <see cref="CompressionRequest.OutputPath"/>.
    /// </summary>
    public static CompressionResult Run(CompressionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (Path.GetFullPath(request.OutputPath) == Path.GetFullPath(request.ModelPath))
            throw new CompressTasksException(DiagnosticCodes.ToolUsage, "the output would overwrite the source model; the source is never modified", request.ModelPath);
        var recipe = LoadRecipe(request.RecipePath);
        CheckExpectedOutput(request, recipe);
        var cache = request.CacheDirectory is null ? null : new ResultCache(request.CacheDirectory);
        string? key = cache?.Key(request, recipe, ToolVersion);
        if (cache is not null && cache.TryRestore(key!, request) is { } cached)
        {
            request.Progress?.Invoke($"{Path.GetFileName(request.ModelPath)}: restored from the cache");
            WriteDependencies(request, recipe);
            return cached;
        }

        TuneResult? tuning = null;
        var budgetAt = recipe?.VerifyLocation;
        if (recipe?.Auto is not null)
        {
            // auto: the first build tunes (cached by content), later builds reuse the resolved recipe.
            tuning = Tuner.Tune(request.ModelPath, request.RecipePath!, new TuneOptions { CacheDirectory = request.CacheDirectory, Progress = request.Progress });
            recipe = new RecipeLoader(PassRegistry.Catalog).Parse(tuning.TunedRecipeText, request.RecipePath!).GetRecipeOrThrow();
        }
        var result = Compress(request, recipe, tuning, budgetAt);
        cache?.Store(key!, request, result);
        WriteDependencies(request, recipe);
        return result;
    }

    /// <summary>
    /// Where <c>compress run MODEL --recipe R</c> without <c>-o</c> writes: the recipe's <c>output:</c>, beside the
    /// model (as a build puts it where the model would go). Null when the recipe names no output.
    /// </summary>
    public static string? DefaultOutputPath(string modelPath, string recipePath)
    {
        var recipe = LoadRecipe(recipePath);
        return recipe?.Output is { } output
            ? Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, output))
            : null;
    }

    /// <summary>
    /// The files besides model and recipe that decide the result: the recipes it extends, then its data; a folder as
    /// itself, ending with the separator (so a build also watches files added later), followed by the files now in it
    /// (so a build notices one that goes). What <see cref="CompressionRequest.DependencyFile"/> lists.
    /// </summary>
    public static IEnumerable<string> Dependencies(Recipe.Recipe? recipe) =>
        recipe is null ? [] : recipe.BaseFiles.Concat(recipe.DataFiles(withFolders: true));

    // The build read output: with a quick line scan to plan paths before the tool runs; the real parse decides, and a
    // disagreement is an error at the recipe's output: (never a model silently left under another name).
    private static void CheckExpectedOutput(CompressionRequest request, Recipe.Recipe? recipe)
    {
        if (request.ExpectedRecipeOutput is not { } expected || recipe is null) return;
        string actual = recipe.Output ?? "";
        if (actual == expected) return;
        var at = recipe.OutputLocation;
        throw new CompressTasksException(DiagnosticCodes.RecipeOutputMismatch,
            $"the build read 'output: {(expected.Length == 0 ? "(none)" : expected)}' from the recipe, but it resolves to 'output: {(actual.Length == 0 ? "(none)" : actual)}'; " +
            "write output: as a plain top-level line ('output: name.onnx'), or set OutputName on the OnnxModel item",
            at?.File ?? request.RecipePath, at?.Line ?? 0, at?.Column ?? 0);
    }

    private static void WriteDependencies(CompressionRequest request, Recipe.Recipe? recipe)
    {
        if (request.DependencyFile is not { } path) return;
        var text = string.Concat(Dependencies(recipe).Distinct(StringComparer.Ordinal).Select(d => d + "\n"));
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var temp = path + $".{Guid.NewGuid():N}.tmp";
        File.WriteAllText(temp, text);
        File.Move(temp, path, overwrite: true);
    }

    private static CompressionResult Compress(CompressionRequest request, Recipe.Recipe? recipe, TuneResult? tuning, RecipeLocation? budgetAt)
    {
        ModelStatistics compressed;
        var progress = request.Progress;
        string name = Path.GetFileName(request.ModelPath);
        var (original, runs) = RunPasses(request, recipe);
        // The compressed model in memory is garbage now (for a quantized one, all of its new payloads: 0.6 GB for a
        // 2.5 GB MLP in int8), and nothing managed is allocated while ONNX Runtime's two sessions hold the models.
        if (GC.GetTotalMemory(forceFullCollection: false) >= CollectAfterSave) GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        IReadOnlyList<LayerChange> layers;
        using (var written = OnnxModel.Load(request.OutputPath))
        using (var source = OnnxModel.Load(request.ModelPath))
        {
            compressed = ModelStatistics.Compute(written.Proto, ModelStatistics.FileSize(request.OutputPath, written.Proto));
            layers = LayerTable.Compute(source, written);
        }

        var (verification, violations) = Verify(request, recipe);
        var report = new CompressionReport(
            "CompressTasks", ToolVersion, Path.GetFullPath(request.ModelPath), Path.GetFullPath(request.OutputPath),
            request.RecipePath is null ? null : Path.GetFullPath(request.RecipePath),
            original, compressed,
            runs.Select(r => new PassSummary(r.Name, r.Result.Matched, r.Result.Rewritten, r.Result.Skipped, r.Result.Notes,
                r.NodesBefore, r.NodesAfter, r.BytesBefore, r.BytesAfter, r.Milliseconds)
            {
                InitializersBefore = r.InitializersBefore,
                InitializersAfter = r.InitializersAfter,
            }).ToList(),
            verification)
        {
            Layers = layers,
            Tuning = tuning?.ToSummary(),
        };
        var reportPath = ReportWriter.Write(report, request.ReportDirectory, Path.GetFileName(request.OutputPath));
        if (tuning is not null)
        {
            // Next to the report, so the user can commit it and drop auto: (paths stay relative to the original recipe).
            var resolved = Path.Combine(request.ReportDirectory, Path.GetFileName(request.OutputPath) + TunedRecipeSuffix);
            File.WriteAllText(resolved, tuning.TunedRecipeText);
            progress?.Invoke($"{name}: tuned recipe written to {resolved}");
        }
        if (violations.Count > 0)
        {
            DeleteOutput(request.OutputPath);
            // At the verify: that set the budget (a base recipe's, if it came from there); without one, the defaults were
            // broken, so the recipe (or the model) itself is named.
            throw new CompressTasksException(DiagnosticCodes.BudgetExceeded,
                $"{Path.GetFileName(request.ModelPath)} breaks the accuracy budget: {string.Join("; ", violations)}{(verification.FirstDivergence is { } d ? $"; {d}" : "")} (report: {reportPath})",
                budgetAt?.File ?? request.RecipePath ?? request.ModelPath, budgetAt?.Line ?? 0, budgetAt?.Column ?? 0);
        }
        return new CompressionResult(request.OutputPath, reportPath, original.FileBytes, compressed.FileBytes,
            runs.Select(r => r.Name).ToArray(), $"{report.SummaryLine()}; report: {reportPath}")
        {
            Warnings = [.. verification.NearMisses, .. verification.Warnings],
        };
    }

    private static (VerificationSummary, IReadOnlyList<string>) Verify(CompressionRequest request, Recipe.Recipe? recipe)
    {
        var settings = recipe?.Verify ?? new VerifySettings();
        bool enabled = request.Verify ?? settings.Enabled;
        if (!enabled) return (new VerificationSummary(false, "none", 0, "-", [], [], [], null, null), []);

        var pinned = PinnedInputs.Shapes(recipe);
        bool latency = request.Latency ?? settings.Latency;
        var runtime = new RuntimeOptions
        {
            Optimization = settings.Optimization switch
            {
                "disabled" => OptimizationLevel.Disabled,
                "basic" => OptimizationLevel.Basic,
                "extended" => OptimizationLevel.Extended,
                _ => OptimizationLevel.All,
            },
            IntraOpThreads = settings.Threads,
            PreferCuda = settings.ExecutionProvider == "cuda",
            // Comparing outputs on a few samples does not need ONNX Runtime's packed copy of every weight (one more
            // model-sized buffer per session); timing does, since deployments run with it.
            PrepackWeights = latency,
        };
        using var teacher = ModelSession.Open(request.ModelPath, runtime);
        using var student = ModelSession.Open(request.OutputPath, runtime);
        var options = new ComparisonOptions { Runtime = runtime, PinnedShapes = pinned, PinnedValues = PinnedInputs.Values(recipe, teacher.Inputs, request.ModelPath) };
        string inputs = "generated inputs";
        if (recipe?.Evaluation is { } evaluation)
        {
            options = options with
            {
                Feeds = FeedLoader.Load(evaluation.Source, teacher.Inputs, maxRows: 1000),
                Labels = recipe.Labels is { } labels ? FeedLoader.LoadLabels(labels.FullPath) : null,
            };
            inputs = evaluation.Written;
        }
        var stopwatch = Stopwatch.StartNew();
        string name = Path.GetFileName(request.ModelPath);
        request.Progress?.Invoke(options.Feeds is { } fed
            ? $"{name}: verifying on {fed.Count} sample(s) of {inputs}"
            : $"{name}: verifying on {inputs}");
        var comparison = ModelComparer.Compare(teacher, student, options);
        request.Progress?.Invoke($"{name}: verified {comparison.Samples} sample(s) in {stopwatch.Elapsed.TotalSeconds:0.0} s");
        var budget = new AccuracyBudget(settings.MinCosine, settings.MaxAbsError, settings.MaxTop1Drop, settings.MinSnrDb);
        var (violations, nearMisses) = budget.Check(comparison);
        var warnings = budget.FloatNoiseNotes(comparison).Select(n => $"{DiagnosticCodes.NearZeroOutput}: {n}").ToList();
        // Both sessions must have run on the same provider for the comparison to be fair; report CPU unless both had CUDA.
        string provider = teacher.UsesCuda && student.UsesCuda ? "cuda" : "cpu";
        if (runtime.PreferCuda && provider != "cuda")
            warnings.Add($"{DiagnosticCodes.ExecutionProviderFallback}: execution-provider: cuda was asked for, but ONNX Runtime's CUDA execution provider is not available here " +
                "(no CUDA build of ONNX Runtime, or no GPU); both models were verified on CPU");
        if (latency) request.Progress?.Invoke($"{name}: measuring latency of original and compressed");
        var (originalLatency, compressedLatency) = latency ? MeasureLatency(teacher, student, options) : (null, null);
        var divergence = violations.Count > 0 ? FindDivergence(request, teacher, options, settings) : null;
        var summary = new VerificationSummary(true, inputs, comparison.Samples, runtime.Optimization.ToString(), comparison.Outputs,
            violations, nearMisses, originalLatency, compressedLatency)
        {
            TeacherAccuracy = comparison.TeacherAccuracy,
            StudentAccuracy = comparison.StudentAccuracy,
            Milliseconds = stopwatch.Elapsed.TotalMilliseconds,
            FirstDivergence = divergence,
            ExecutionProvider = provider,
            Threads = settings.Threads,
            Warnings = warnings,
        };
        return (summary, violations);
    }

    /// <summary>Managed heap size from which the compressed model is collected before verification starts.</summary>
    private const long CollectAfterSave = 256L << 20;

    // Load, passes, save. A method of its own so that the model is unreachable once it returns: as locals of a
    // method with exception handling, it stayed alive through verification.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static (ModelStatistics Original, IReadOnlyList<PassRun> Runs) RunPasses(CompressionRequest request, Recipe.Recipe? recipe)
    {
        var progress = request.Progress;
        string name = Path.GetFileName(request.ModelPath);
        progress?.Invoke($"{name}: loading {request.ModelPath}");
        using var model = OnnxModel.Load(request.ModelPath);
        var original = ModelStatistics.Compute(model.Proto, ModelStatistics.FileSize(request.ModelPath, model.Proto));
        foreach (var pass in recipe?.Passes ?? []) LayerNames.CheckOverrides(pass, model.Proto, request.ModelPath);
        var steps = PipelineSteps.For(recipe);
        // Lossless passes repeat until nothing changes (one fusion can enable another); lossy ones run once.
        bool lossless = PipelineSteps.Lossless(steps);
        // The teacher is the file on disk, untouched by the passes; calibration comes from the recipe.
        var context = PipelineSteps.Context(request.ModelPath, recipe);
        var runs = PassManager.Run(model, steps, rounds: lossless ? 4 : 1, progress: progress is null ? null : line => progress($"{name}: {line}"),
            context: context);
        progress?.Invoke($"{name}: saving {request.OutputPath}");
        model.Save(request.OutputPath);
        return (original, runs);
    }

    // Both models run the same feed on sessions opened with the same options, so the ratio compares models, not
    // settings. The result is reported as measured: a slower student shows as "N× SLOWER", never hidden.
    private static (LatencyStats, LatencyStats) MeasureLatency(ModelSession teacher, ModelSession student, ComparisonOptions options)
    {
        var feed = FirstFeed(teacher, options);
        return (LatencyMeter.Measure(teacher, feed), LatencyMeter.Measure(student, feed));
    }

    // Only when the budget is broken: it runs both models once more with every intermediate value exposed. The
    // search is an aid to reading the failure, so a model ONNX Runtime cannot run that way still fails with CT3003.
    private static LayerDivergence? FindDivergence(CompressionRequest request, ModelSession teacher, ComparisonOptions options, VerifySettings settings)
    {
        try
        {
            return LayerComparer.FindFirstDivergence(request.ModelPath, request.OutputPath, FirstFeed(teacher, options), options.Runtime, settings.MinCosine);
        }
        catch (CompressTasksException)
        {
            return null;
        }
    }

    private static IReadOnlyDictionary<string, TensorValue> FirstFeed(ModelSession teacher, ComparisonOptions options) =>
        options.Feeds is { Count: > 0 } feeds ? feeds[0] : InputGenerator.Generate(teacher.Inputs, options.PinnedShapes, options.Seed, options.PinnedValues);

    private static Recipe.Recipe? LoadRecipe(string? path)
    {
        if (path is null) return null;
        var result = new RecipeLoader(PassRegistry.Catalog).Load(path);
        if (result.Errors.Count == 1) throw result.Errors[0];
        if (result.Errors.Count > 1) throw new AggregateException("the recipe has several errors", result.Errors);
        return result.Recipe;
    }

    // Where a top-level key is written in the recipe, for diagnostics about settings (1-based; 0 when absent).
    private static void DeleteOutput(string path)
    {
        try
        {
            File.Delete(path);
            File.Delete(path + ".data");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Windows refuses to delete a file that is still mapped, and the report's models (disposed) keep their
            // mappings until the collector finalizes them (see MappedFile).
            GC.Collect();
            GC.WaitForPendingFinalizers();
            File.Delete(path);
            File.Delete(path + ".data");
        }
    }
}
