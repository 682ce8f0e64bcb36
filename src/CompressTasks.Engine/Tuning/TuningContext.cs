using CompressTasks.Recipe;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.Verification;

namespace CompressTasks.Engine.Tuning;

/// <summary>
/// What the search works from: the base model (the recipe's own passes applied), the teacher's recorded outputs on the
/// tuning data (the recipe's <c>calibration:</c>, or generated inputs) and on held-out data (<c>evaluation:</c>, or
/// generated inputs with another seed), and the session options every measurement uses.
/// </summary>
internal sealed class TuningContext
{
    private TuningContext(Recipe.Recipe recipe, string modelPath, byte[] baseModel, IReadOnlyList<TuneCandidate> candidates, RuntimeOptions runtime, ComparisonOptions heldOutOptions,
        TeacherRecording tuning, TeacherRecording heldOut, string tuningData, string heldOutData, Action<string>? progress)
    {
        Recipe = recipe;
        ModelPath = modelPath;
        BaseModel = baseModel;
        Candidates = candidates;
        Runtime = runtime;
        HeldOutOptions = heldOutOptions;
        Tuning = tuning;
        HeldOut = heldOut;
        TuningData = tuningData;
        HeldOutData = heldOutData;
        Progress = progress;
    }

    /// <summary>The recipe being tuned (its passes make the base model; its data and budget drive the search).</summary>
    public Recipe.Recipe Recipe { get; }

    public string ModelPath { get; }

    public byte[] BaseModel { get; }

    public IReadOnlyList<TuneCandidate> Candidates { get; }

    public RuntimeOptions Runtime { get; }

    public ComparisonOptions HeldOutOptions { get; }

    public TeacherRecording Tuning { get; }

    public TeacherRecording HeldOut { get; }

    public string TuningData { get; }

    public string HeldOutData { get; }

    public Action<string>? Progress { get; }

    /// <summary>
    /// Sample counts: tuning rows enough for a stable cosine, few enough that a cell costs one short session; held-out
    /// rows as many as the build's verification reads, so the tuner's last check and the build's verdict agree.
    /// </summary>
    private const int TuningRows = 64, HeldOutRows = 1000, GeneratedSamples = 4;

    public static TuningContext Create(string modelPath, Recipe.Recipe recipe, IReadOnlyList<TuneCandidate> candidates, Action<string>? progress)
    {
        var original = File.ReadAllBytes(modelPath);
        var baseModel = ModelVariants.Apply(original, PipelineSteps.For(recipe), modelPath, recipe);
        // One thread unless the recipe says otherwise: the same inputs must give the same measurements, and so the same recipe.
        var runtime = new RuntimeOptions { IntraOpThreads = recipe.Verify?.Threads is > 0 and var threads ? threads : 1 };
        var pinned = PinnedInputs.Shapes(recipe);
        using var teacher = ModelSession.Open(modelPath, runtime);
        var values = PinnedInputs.Values(recipe, teacher.Inputs, modelPath);
        var tuningOptions = new ComparisonOptions { Runtime = runtime, PinnedShapes = pinned, PinnedValues = values, Samples = GeneratedSamples };
        string tuningData = "generated inputs";
        if (recipe.Calibration is { } calibration)
        {
            tuningOptions = tuningOptions with { Feeds = FeedLoader.Load(calibration.Source, teacher.Inputs, TuningRows) };
            tuningData = calibration.Written;
        }
        // Held out: the evaluation data, or inputs the tuning never saw (another seed).
        var heldOutOptions = new ComparisonOptions { Runtime = runtime, PinnedShapes = pinned, PinnedValues = values, Samples = GeneratedSamples, Seed = 7_000_001 };
        string heldOutData = "generated inputs (another seed)";
        if (recipe.Evaluation is { } evaluation)
        {
            heldOutOptions = heldOutOptions with
            {
                Feeds = FeedLoader.Load(evaluation.Source, teacher.Inputs, HeldOutRows),
                Labels = recipe.Labels is { } labels ? FeedLoader.LoadLabels(labels.FullPath) : null,
            };
            heldOutData = evaluation.Written;
        }
        return new TuningContext(recipe, modelPath, baseModel, candidates, runtime, heldOutOptions,
            ModelComparer.Record(teacher, tuningOptions), ModelComparer.Record(teacher, heldOutOptions), tuningData, heldOutData, progress);
    }

    /// <summary>Lowest output cosine of <paramref name="model"/> against the teacher on the tuning data.</summary>
    public double Cosine(byte[] model)
    {
        using var session = ModelSession.Open(model, "variant", Runtime);
        return ModelComparer.Compare(Tuning, session, new ComparisonOptions { Runtime = Runtime }).MinCosine;
    }

    /// <summary>The full comparison of <paramref name="model"/> against the teacher on the held-out data.</summary>
    public ComparisonResult CompareHeldOut(byte[] model)
    {
        using var session = ModelSession.Open(model, "variant", Runtime);
        return ModelComparer.Compare(HeldOut, session, HeldOutOptions);
    }

    /// <summary>Median latency of <paramref name="model"/> on the first tuning feed.</summary>
    public double Latency(byte[] model)
    {
        using var session = ModelSession.Open(model, "variant", Runtime);
        return LatencyMeter.Measure(session, Tuning.Feeds[0]).MedianMs;
    }
}
