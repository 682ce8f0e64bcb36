namespace CompressTasks.Verification;

/// <summary>One layer with one treatment alone: what it saves and how far the outputs drift (on the tuning data).</summary>
/// <param name="Layer">The weight's name.</param>
/// <param name="Treatment">Index into <see cref="SensitivityTable.Treatments"/>.</param>
/// <param name="BytesSaved">Serialized model bytes saved against the base model.</param>
/// <param name="Cosine">Lowest output cosine against the original model.</param>
/// <param name="MillisecondsSaved">Median latency saved against the base model (latency objective only; negative when slower).</param>
public sealed record SensitivityCell(string Layer, int Treatment, long BytesSaved, double Cosine, double? MillisecondsSaved = null)
{
    /// <summary>1 − cosine, never negative: the drift the search spends its budget on.</summary>
    public double Drift => Math.Max(0, 1 - Cosine);
}

/// <summary>Every layer × treatment tried alone on the base model (the recipe's own passes applied).</summary>
public sealed record SensitivityTable(IReadOnlyList<string> Treatments, IReadOnlyList<string> Layers, IReadOnlyList<SensitivityCell> Cells, long BaseBytes, int Samples)
{
    /// <summary>The cell for a layer and treatment, if that treatment applies to that layer.</summary>
    public SensitivityCell? Find(string layer, int treatment) => Cells.FirstOrDefault(c => c.Layer == layer && c.Treatment == treatment);
}

/// <summary>A combination the search measured: the model it gives and how close it stays.</summary>
public sealed record TunePoint(string Step, long Bytes, double Cosine, bool MeetsBudget, bool Chosen = false);

/// <summary>The report's account of an <c>auto:</c> tune: the sensitivity table, the combinations visited, the choice.</summary>
/// <param name="Objective"><c>size</c> or <c>latency</c>.</param>
/// <param name="MinCosine">The cosine the tuned model had to keep.</param>
/// <param name="Assignment">Layer → index of its treatment in <see cref="SensitivityTable.Treatments"/>, or −1 (left as is).</param>
public sealed record TuningSummary(
    string Objective, double MinCosine, SensitivityTable Table, IReadOnlyDictionary<string, int> Assignment, IReadOnlyList<TunePoint> Visited,
    IReadOnlyList<string> Notes, bool FromCache);
