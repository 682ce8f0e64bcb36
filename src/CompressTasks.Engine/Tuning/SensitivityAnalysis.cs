using CompressTasks.Passes;
using CompressTasks.Recipe;
using CompressTasks.Runtime;
using CompressTasks.Verification;

namespace CompressTasks.Engine.Tuning;

/// <summary>
/// Tries every candidate treatment on every layer it applies to, one layer at a time, on the base model, and measures
/// the bytes saved and the drift of the outputs against the original on the tuning data.
/// </summary>
/// <remarks>
/// A candidate's layers are found by running it on the whole base model and seeing which float weights changed, so any
/// weight pass works as a candidate without declaring anything more. Cost: one pass run and one ONNX Runtime session per
/// cell; the teacher runs once (<see cref="TeacherRecording"/>).
/// </remarks>
internal static class SensitivityAnalysis
{
    public static SensitivityTable Measure(TuningContext context, bool measureLatency)
    {
        var candidates = context.Candidates;
        var cells = new List<SensitivityCell>();
        var layers = new List<string>();
        double baseLatency = measureLatency ? context.Latency(context.BaseModel) : 0;
        for (int t = 0; t < candidates.Count; t++)
        {
            var whole = ModelVariants.Apply(context.BaseModel, PipelineSteps.For(context.Recipe, candidates[t].Steps, withOpset: false), context.ModelPath, context.Recipe);
            var touched = ModelVariants.ChangedWeights(context.BaseModel, whole);
            context.Progress?.Invoke($"sensitivity: {Label(candidates[t])} applies to {touched.Count} layer(s)");
            foreach (var layer in touched)
            {
                // Every pass of the treatment, each narrowed to this layer, in order.
                var steps = candidates[t].Steps.Select(step => new PassStep(PassRegistry.Get(step.Name), ModelVariants.Narrow(step, [layer]))).ToList();
                var variant = ModelVariants.Apply(context.BaseModel, steps, context.ModelPath, context.Recipe);
                if (ModelVariants.ChangedWeights(context.BaseModel, variant).Count == 0) continue;
                double cosine = context.Cosine(variant);
                double? saved = measureLatency ? baseLatency - context.Latency(variant) : null;
                cells.Add(new SensitivityCell(layer, t, context.BaseModel.LongLength - variant.LongLength, cosine, saved));
                if (!layers.Contains(layer)) layers.Add(layer);
            }
        }
        return new SensitivityTable([.. candidates.Select(Label)], layers, cells, context.BaseModel.LongLength, context.Tuning.Feeds.Count);
    }

    /// <summary>A candidate as written: <c>quantize-weights-int8 { per-channel: false }</c>; a sequence joined by "then".</summary>
    public static string Label(TuneCandidate candidate) => string.Join(" then ", candidate.Steps.Select(Label));

    /// <summary>One pass as written: <c>quantize-weights-int8 { per-channel: false }</c>.</summary>
    public static string Label(RecipePass candidate)
    {
        var values = candidate.Arguments.Explicit;
        return values.Count == 0 ? candidate.Name
            : $"{candidate.Name} {{ {string.Join(", ", values.Select(kv => $"{kv.Key}: {RecipeWriter.FormatValue(kv.Value)}"))} }}";
    }
}
