namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// What one run of a pass did: how many places matched its pattern, how many it rewrote, how many it skipped
/// and why. A failed precondition is a skip with a reason, never an error.
/// </summary>
public sealed class PassResult
{
    private readonly List<string> _notes = new();

    public int Matched { get; private set; }

    public int Rewritten { get; private set; }

    public int Skipped { get; private set; }

    /// <summary>Skip reasons and other remarks, in the order they happened.</summary>
    public IReadOnlyList<string> Notes => _notes;

    /// <summary>True when the pass changed the graph.</summary>
    public bool Changed => Rewritten > 0;

    public void RecordMatch() => Matched++;

    public void RecordRewrite(int count = 1) => Rewritten += count;

    /// <summary>Records a skipped match and why (reasons end up in the report).</summary>
    public void Skip(string reason)
    {
        Skipped++;
        _notes.Add(reason);
    }

    /// <summary>
    /// Folds in a later round of the same pass (fixed-point runs): rewrites add up, while skips and notes are
    /// those of the later round, since a place skipped every round would otherwise be counted once per round.
    /// </summary>
    public void Absorb(PassResult later)
    {
        Matched += later.Rewritten;
        Rewritten += later.Rewritten;
        Skipped = later.Skipped;
        _notes.Clear();
        _notes.AddRange(later._notes);
    }

    /// <summary>A remark that is not a skip, e.g. an op the pass does not understand and left alone.</summary>
    public void Note(string remark) => _notes.Add(remark);
}
