namespace CompressTasks.Engine;

/// <summary>One model to compress: what the CLI's <c>compress run</c> and the MSBuild task hand to <see cref="Compressor.Run"/>.</summary>
/// <param name="ModelPath">The ONNX model to read.</param>
/// <param name="RecipePath">The <c>compression.yaml</c> recipe, or null to run without one.</param>
/// <param name="OutputPath">Where the compressed model is written (atomically; its folder is created).</param>
/// <param name="ReportDirectory">Folder that receives <c>&lt;output file name&gt;.report.json</c> (created if missing).</param>
public sealed record CompressionRequest(string ModelPath, string? RecipePath, string OutputPath, string ReportDirectory)
{
    /// <summary>Whether to verify the result against the original; null lets the recipe decide.</summary>
    public bool? Verify { get; init; }

    /// <summary>Whether to time original and compressed (costs build time); null lets the recipe's <c>verify: latency</c> decide.</summary>
    public bool? Latency { get; init; }

    /// <summary>Folder of cached results keyed by content hash; null disables the cache.</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// The file name the caller (the MSBuild task) read from the recipe's <c>output:</c> and already applied to
    /// <see cref="OutputPath"/>, "" when it read none; null when the caller chose the name itself. A recipe that
    /// resolves to another <c>output:</c> fails with CT1016 rather than leaving the model under a name the recipe did not ask for.
    /// </summary>
    public string? ExpectedRecipeOutput { get; init; }

    /// <summary>
    /// Where to write, after a success, the files besides model and recipe that the result depends on (one full path a
    /// line; a folder ends with '/'), so a build can list them as inputs; null writes none.
    /// </summary>
    public string? DependencyFile { get; init; }

    /// <summary>Hears one line as each long step starts or ends (loading, each pass, saving, verification, latency); null for silence.</summary>
    public Action<string>? Progress { get; init; }
}

/// <summary>What <see cref="Compressor.Run"/> did to one model.</summary>
/// <param name="OutputPath">The compressed model that was written.</param>
/// <param name="ReportPath">The JSON report that was written.</param>
/// <param name="InputBytes">Size of the original model file.</param>
/// <param name="OutputBytes">Size of the written model file.</param>
/// <param name="PassesRun">Names of the passes that ran, in order.</param>
/// <param name="Summary">One line for humans, e.g. <c>model.onnx: 63.7 MB → 63.7 MB (1.00×); report: obj/…/model.onnx.report.json</c>.</param>
public sealed record CompressionResult(
    string OutputPath, string ReportPath, long InputBytes, long OutputBytes, IReadOnlyList<string> PassesRun, string Summary)
{
    /// <summary>
    /// Warnings for the build log: near misses of the accuracy budget (CT3004), and warnings that carry their own code
    /// as <c>CTxxxx: message</c> (<see cref="SplitWarning"/>).
    /// </summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>A warning's code and message: its own <c>CTxxxx: </c> prefix, else CT3004 (a budget near miss).</summary>
    public static (string Code, string Message) SplitWarning(string warning) =>
        warning.Length > 8 && warning.StartsWith("CT", StringComparison.Ordinal) && warning[6..8] == ": " && warning[2..6].All(char.IsAsciiDigit)
            ? (warning[..6], warning[8..])
            : (Diagnostics.DiagnosticCodes.BudgetNearMiss, warning);

    /// <summary>True when the result was copied from the cache instead of being computed.</summary>
    public bool FromCache { get; init; }
}
