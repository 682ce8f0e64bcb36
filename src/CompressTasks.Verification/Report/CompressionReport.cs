namespace CompressTasks.Verification;

/// <summary>What one pass did, as the report shows it.</summary>
public sealed record PassSummary(
    string Name,
    int Matched,
    int Rewritten,
    int Skipped,
    IReadOnlyList<string> Notes,
    int NodesBefore,
    int NodesAfter,
    long BytesBefore,
    long BytesAfter,
    double Milliseconds)
{
    /// <summary>Initializers (dense and sparse, every graph) before the pass.</summary>
    public int InitializersBefore { get; init; }

    /// <summary>Initializers (dense and sparse, every graph) after the pass.</summary>
    public int InitializersAfter { get; init; }
}

/// <summary>The verification section: inputs used, budget, per-output metrics, optional latency.</summary>
public sealed record VerificationSummary(
    bool Enabled,
    string Inputs,
    int Samples,
    string OptimizationLevel,
    IReadOnlyList<OutputMetrics> Outputs,
    IReadOnlyList<string> BudgetViolations,
    IReadOnlyList<string> NearMisses,
    LatencyStats? OriginalLatency,
    LatencyStats? CompressedLatency)
{
    /// <summary>Top-1 accuracy of the original against the recipe's labels, when given.</summary>
    public double? TeacherAccuracy { get; init; }

    /// <summary>Top-1 accuracy of the compressed model against the recipe's labels, when given.</summary>
    public double? StudentAccuracy { get; init; }

    /// <summary>When the budget is broken: the first node whose output drifts past it, if one can be named.</summary>
    public LayerDivergence? FirstDivergence { get; init; }

    /// <summary>Time spent verifying.</summary>
    public double Milliseconds { get; init; }

    /// <summary>The execution provider that actually ran both sessions (<c>cpu</c> when CUDA was asked for but unavailable).</summary>
    public string ExecutionProvider { get; init; } = "cpu";

    /// <summary>ONNX Runtime intra-op threads; 0 when ONNX Runtime decided.</summary>
    public int Threads { get; init; }

    /// <summary>Warnings about the verification itself, each <c>CTxxxx: message</c> (CT3020 outputs at float noise, CT3021 provider fallback).</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>
/// The report of one compressed model. Its JSON form is a stable, versioned schema (<see cref="SchemaVersion"/>):
/// fields are added, never renamed or removed, within a version.
/// </summary>
public sealed record CompressionReport(
    string Tool,
    string ToolVersion,
    string Model,
    string Output,
    string? Recipe,
    ModelStatistics Original,
    ModelStatistics Compressed,
    IReadOnlyList<PassSummary> Passes,
    VerificationSummary Verification)
{
    public int SchemaVersion => 1;

    /// <summary>Every initializer compression changed (type, bits, elements, sparsity after); empty when none did.</summary>
    public IReadOnlyList<LayerChange> Layers { get; init; } = [];

    /// <summary>How an <c>auto:</c> recipe was resolved; null for a fixed recipe.</summary>
    public TuningSummary? Tuning { get; init; }

    /// <summary>Original size over compressed size (file plus external data).</summary>
    public double SizeRatio => Compressed.FileBytes == 0 ? 0 : (double)Original.FileBytes / Compressed.FileBytes;

    /// <summary>The build log's one line, e.g. <c>model.onnx: 63.7 MB → 31.9 MB (2.00×), 66 → 44 nodes, cos 0.99998</c>.</summary>
    public string SummaryLine()
    {
        var parts = new List<string>
        {
            $"{Path.GetFileName(Model)}: {Megabytes(Original.FileBytes)} → {Megabytes(Compressed.FileBytes)} ({SizeRatio:0.00}×)",
            $"{Original.Nodes} → {Compressed.Nodes} nodes",
        };
        if (Verification.Enabled && Verification.Outputs.Count > 0)
        {
            parts.Add($"cos {Verification.Outputs.Min(o => o.Cosine):0.00000}");
            var top1 = Verification.Outputs.Where(o => o.Top1Agreement is not null).Select(o => o.Top1Agreement!.Value).ToList();
            if (top1.Count > 0) parts.Add($"top-1 agree {100 * top1.Min():0.0}%");
            if (Verification.TeacherAccuracy is { } ta && Verification.StudentAccuracy is { } sa)
                parts.Add($"accuracy {100 * ta:0.0}% → {100 * sa:0.0}%");
        }
        else parts.Add("not verified");
        if (Verification.OriginalLatency is { } before && Verification.CompressedLatency is { } after && after.MedianMs > 0)
        {
            double speedup = before.MedianMs / after.MedianMs;
            parts.Add(speedup >= 1 ? $"{speedup:0.00}× faster" : $"{1 / speedup:0.00}× SLOWER");
        }
        return string.Join(", ", parts);
    }

    internal static string Megabytes(long bytes) => bytes >= 1 << 20 ? $"{bytes / 1048576.0:0.0} MB" : $"{bytes / 1024.0:0.0} KB";
}
