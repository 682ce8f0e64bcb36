using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CompressTasks.Diagnostics;
using CompressTasks.Passes;
using CompressTasks.Recipe;
using CompressTasks.Verification;

namespace CompressTasks.Engine.Tuning;

/// <summary>Overrides for a tune; null keeps the recipe's value.</summary>
public sealed record TuneOptions
{
    /// <summary>The cosine the tuned model must keep; default: the recipe's <c>verify: min-cosine</c>, else 0.999.</summary>
    public double? MinCosine { get; init; }

    /// <summary><c>size</c> or <c>latency</c>; default: the recipe's <c>auto: objective</c>.</summary>
    public string? Objective { get; init; }

    /// <summary>Where resolved recipes are kept by content hash; null: no cache.</summary>
    public string? CacheDirectory { get; init; }

    public Action<string>? Progress { get; init; }
}

/// <summary>
/// <c>compress tune</c>: one treatment per layer (or none) so the model is as small (or fast) as it gets while its outputs
/// stay within the budget, written out as an ordinary recipe.
/// </summary>
/// <remarks>
/// 1. Sensitivity: every candidate on every layer alone (<see cref="SensitivityAnalysis"/>).
/// 2. Greedy search: repeatedly take the upgrade (a layer to a treatment that saves more) with the least drift per byte
///    (or millisecond) saved whose estimated drift still fits the budget, and measure the combined model; an upgrade that
///    breaks the budget when combined is undone and not tried again. Every combination measured is a point of the curve.
/// 3. Held-out check on data the search never saw; while it fails, the most recent upgrades are undone.
/// Drifts do not add up exactly, which is why each step is measured rather than estimated.
/// </remarks>
public static class Tuner
{
    private const double DefaultMinCosine = 0.999;

    /// <summary>The sensitivity table alone (<c>compress sensitivity</c>).</summary>
    public static SensitivityTable Sensitivity(string modelPath, string recipePath, TuneOptions? options = null)
    {
        var (recipe, auto) = Load(recipePath);
        var context = TuningContext.Create(modelPath, recipe, auto.Candidates, options?.Progress);
        return SensitivityAnalysis.Measure(context, (options?.Objective ?? auto.Objective) == "latency");
    }

    /// <summary>Tunes <paramref name="modelPath"/> with the recipe's <c>auto:</c> candidates; the result is cached by content.</summary>
    public static TuneResult Tune(string modelPath, string recipePath, TuneOptions options)
    {
        var (recipe, auto) = Load(recipePath);
        string objective = options.Objective ?? auto.Objective;
        double minCosine = options.MinCosine ?? recipe.Verify?.MinCosine ?? DefaultMinCosine;
        string? cacheFile = options.CacheDirectory is null ? null
            : Path.Combine(options.CacheDirectory, $"tune-{Key(modelPath, recipePath, recipe, objective, minCosine)}.json");
        if (cacheFile is not null && File.Exists(cacheFile))
        {
            options.Progress?.Invoke($"{Path.GetFileName(modelPath)}: tuned recipe restored from the cache");
            return JsonSerializer.Deserialize<TuneResult>(File.ReadAllText(cacheFile))! with { FromCache = true };
        }

        var context = TuningContext.Create(modelPath, recipe, auto.Candidates, options.Progress);
        var table = SensitivityAnalysis.Measure(context, objective == "latency");
        var result = Search(context, recipe, table, objective, minCosine);
        if (cacheFile is not null)
        {
            Directory.CreateDirectory(options.CacheDirectory!);
            var temp = cacheFile + $".{Environment.ProcessId}.tmp";
            File.WriteAllText(temp, JsonSerializer.Serialize(result));
            File.Move(temp, cacheFile, overwrite: true);
        }
        return result;
    }

    private static TuneResult Search(TuningContext context, Recipe.Recipe recipe, SensitivityTable table, string objective, double minCosine)
    {
        double allowance = 1 - minCosine;
        double Value(SensitivityCell? c) => c is null ? 0 : objective == "latency" ? c.MillisecondsSaved ?? 0 : c.BytesSaved;
        var assignment = table.Layers.ToDictionary(l => l, _ => -1);
        var history = new List<(string Layer, int Previous)>();
        var rejected = new HashSet<(string, int)>();
        // The base (the recipe's own passes) is measured too: lossless passes still reorder float arithmetic.
        double cosine = context.Cosine(context.BaseModel);
        var visited = new List<TunePoint> { new("base", table.BaseBytes, cosine, cosine >= minCosine) };
        var notes = new List<string>();
        double estimated = 0;
        while (true)
        {
            SensitivityCell? best = null;
            double bestScore = double.MaxValue, bestGain = 0, bestDrift = 0;
            foreach (var layer in table.Layers)
            {
                var current = assignment[layer] < 0 ? null : table.Find(layer, assignment[layer]);
                foreach (var cell in table.Cells.Where(c => c.Layer == layer))
                {
                    double gain = Value(cell) - Value(current), drift = cell.Drift - (current?.Drift ?? 0);
                    if (gain <= 0 || rejected.Contains((layer, cell.Treatment)) || estimated + drift > allowance) continue;
                    double score = Math.Max(drift, 0) / gain;
                    if (score < bestScore || (score == bestScore && gain > bestGain))
                        (best, bestScore, bestGain, bestDrift) = (cell, score, gain, drift);
                }
            }
            if (best is null) break;

            int previous = assignment[best.Layer];
            assignment[best.Layer] = best.Treatment;
            var model = Build(context, recipe, table, assignment, out _);
            double measured = context.Cosine(model);
            string step = $"{best.Layer} → {table.Treatments[best.Treatment]}";
            visited.Add(new TunePoint(step, model.LongLength, measured, measured >= minCosine));
            context.Progress?.Invoke($"tune: {step}: {model.LongLength / 1e6:0.###} MB, cosine {measured:0.######}");
            if (measured < minCosine)
            {
                assignment[best.Layer] = previous;
                rejected.Add((best.Layer, best.Treatment));
                continue;
            }
            history.Add((best.Layer, previous));
            estimated += bestDrift;
            cosine = measured;
        }

        // Held out: undo the latest upgrades until the full budget holds on data the search never saw.
        var budget = new AccuracyBudget(minCosine, recipe.Verify?.MaxAbsError, recipe.Verify?.MaxTop1Drop, recipe.Verify?.MinSnrDb);
        byte[] tuned = Build(context, recipe, table, assignment, out var tunedRecipe);
        var heldOut = context.CompareHeldOut(tuned);
        while (budget.Check(heldOut).Violations.Count > 0 && history.Count > 0)
        {
            var (layer, previous) = history[^1];
            history.RemoveAt(history.Count - 1);
            notes.Add($"{layer}: back to {(previous < 0 ? "as is" : table.Treatments[previous])}, the held-out data broke the budget ({string.Join("; ", budget.Check(heldOut).Violations)})");
            assignment[layer] = previous;
            tuned = Build(context, recipe, table, assignment, out tunedRecipe);
            heldOut = context.CompareHeldOut(tuned);
            cosine = context.Cosine(tuned);
        }
        if (budget.Check(heldOut).Violations.Count > 0)
            notes.Add($"even the base recipe breaks the budget on {context.HeldOutData}: {string.Join("; ", budget.Check(heldOut).Violations)}");
        visited.Add(new TunePoint("chosen", tuned.LongLength, cosine, cosine >= minCosine, Chosen: true));
        foreach (var layer in table.Layers.Where(l => assignment[l] < 0))
        {
            var cheapest = table.Cells.Where(c => c.Layer == layer).MinBy(c => c.Drift);
            if (cheapest is not null)
                notes.Add($"{layer} kept as is: its gentlest treatment ({table.Treatments[cheapest.Treatment]}) alone gives cosine {cheapest.Cosine:0.######}");
        }

        var header = new StringBuilder()
            .AppendLine(CultureInfo.InvariantCulture, $"# Tuned by `compress tune` for {Path.GetFileName(context.ModelPath)}, objective {objective}, min-cosine {minCosine}:")
            .AppendLine(CultureInfo.InvariantCulture, $"# {assignment.Count(a => a.Value >= 0)} of {table.Layers.Count} layers compressed; {table.BaseBytes} → {tuned.LongLength} bytes;")
            .AppendLine(CultureInfo.InvariantCulture, $"# cosine {cosine:0.######} on {context.TuningData}, {heldOut.MinCosine:0.######} on {context.HeldOutData} (held out).");
        var directory = recipe.SourcePath is null ? null : Path.GetDirectoryName(Path.GetFullPath(recipe.SourcePath));
        var text = header + RecipeWriter.Write(tunedRecipe, directory);
        return new TuneResult(objective, minCosine, text, table, assignment, visited, tuned.LongLength, cosine, heldOut.MinCosine, context.HeldOutData, notes)
        {
            TunedSha256 = Convert.ToHexStringLower(SHA256.HashData(tuned)),
        };
    }

    // The recipe's passes, then each candidate on exactly the layers assigned to it.
    private static byte[] Build(TuningContext context, Recipe.Recipe recipe, SensitivityTable table, Dictionary<string, int> assignment, out Recipe.Recipe tuned)
    {
        var entries = new List<RecipePass>();
        for (int t = 0; t < context.Candidates.Count; t++)
        {
            var layers = table.Layers.Where(l => assignment[l] == t).ToList();
            // A combined treatment is one entry per pass, each on exactly these layers, in the treatment's order.
            if (layers.Count > 0)
                foreach (var step in context.Candidates[t].Steps) entries.Add(new RecipePass(ModelVariants.Narrow(step, layers)));
        }
        tuned = new Recipe.Recipe
        {
            Passes = [.. recipe.Passes, .. entries],
            Output = recipe.Output,
            Opset = recipe.Opset,
            Runtime = recipe.Runtime,
            Inputs = recipe.Inputs,
            InputValues = recipe.InputValues,
            Verify = recipe.Verify,
            Calibration = recipe.Calibration,
            Evaluation = recipe.Evaluation,
            Labels = recipe.Labels,
        };
        return ModelVariants.Apply(context.BaseModel, PipelineSteps.For(recipe, entries, withOpset: false), context.ModelPath, recipe);
    }

    private static (Recipe.Recipe, AutoSettings) Load(string recipePath)
    {
        var recipe = new RecipeLoader(PassRegistry.Catalog).Load(recipePath).GetRecipeOrThrow();
        if (recipe.Auto is not { } auto)
            throw new CompressTasksException(DiagnosticCodes.RecipeInvalidStructure,
                "the recipe has no 'auto:' section; add 'auto: { candidates: [quantize-weights-int8, ...] }' to tune it", recipePath, 1, 1);
        return (recipe, auto);
    }

    private static string Key(string modelPath, string recipePath, Recipe.Recipe recipe, string objective, double minCosine)
    {
        var request = new CompressionRequest(modelPath, recipePath, "tune", "tune");
        var inner = new ResultCache(Path.GetTempPath()).Key(request, recipe, Compressor.ToolVersion);
        var text = string.Create(CultureInfo.InvariantCulture, $"{inner}\n{objective}\n{minCosine:R}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}
