using CompressTasks.Verification;

namespace CompressTasks.Engine.Tuning;

/// <summary>What <see cref="Tuner"/> found: the resolved recipe and how it was chosen.</summary>
public sealed record TuneResult(
    string Objective, double MinCosine, string TunedRecipeText, SensitivityTable Table, IReadOnlyDictionary<string, int> Assignment, IReadOnlyList<TunePoint> Visited,
    long TunedBytes, double TuningCosine, double HeldOutCosine, string HeldOutData, IReadOnlyList<string> Notes)
{
    /// <summary>True when the result came from the cache and nothing was recomputed.</summary>
    public bool FromCache { get; init; }

    /// <summary>SHA-256 (hex) of the tuned model's bytes as the search built it; the resolved recipe rebuilds to these bytes.</summary>
    public string TunedSha256 { get; init; } = "";

    /// <summary>The report's view of this result.</summary>
    public TuningSummary ToSummary() => new(Objective, MinCosine, Table, Assignment, Visited, Notes, FromCache);
}
