namespace CompressTasks.Recipe;

/// <summary>
/// The <c>verify:</c> section: how close the compressed model must stay to the original. A null threshold
/// means the verifier's default. <c>verify: off</c> gives <see cref="Off"/>.
/// </summary>
/// <param name="Enabled">False for <c>verify: off</c>.</param>
/// <param name="MinCosine"><c>min-cosine</c>: lowest cosine similarity of outputs, in [-1, 1].</param>
/// <param name="MaxAbsError"><c>max-abs-error</c>: largest absolute difference of any output element, at least 0.</param>
/// <param name="MaxTop1Drop"><c>max-top1-drop</c>: largest drop of top-1 accuracy, as a fraction (<c>"1%"</c> is 0.01).</param>
/// <param name="Latency"><c>latency</c>: also time original and compressed (median and p90); off by default because it costs build time.</param>
/// <param name="Threads"><c>threads</c>: ONNX Runtime intra-op threads for both sessions; 0 lets ONNX Runtime decide.</param>
/// <param name="Optimization"><c>optimization</c>: ONNX Runtime graph optimization level, one of <see cref="OptimizationLevels"/>.</param>
/// <param name="ExecutionProvider"><c>execution-provider</c>: one of <see cref="ExecutionProviders"/>; cuda falls back to CPU when unavailable (warning CT3021).</param>
/// <param name="MinSnrDb"><c>min-snr</c>: lowest signal-to-noise ratio of outputs in dB, 10·log10(‖t‖² / ‖s − t‖²); 40 dB is a relative error of 1%.</param>
public sealed record VerifySettings(
    bool Enabled = true, double? MinCosine = null, double? MaxAbsError = null, double? MaxTop1Drop = null, bool Latency = false,
    int Threads = 0, string Optimization = "all", string ExecutionProvider = "cpu", double? MinSnrDb = null)
{
    /// <summary>The values of <c>optimization</c>; <c>all</c> (the default) is the level users run.</summary>
    public static readonly string[] OptimizationLevels = ["disabled", "basic", "extended", "all"];

    /// <summary>The values of <c>execution-provider</c>; <c>cpu</c> is the default.</summary>
    public static readonly string[] ExecutionProviders = ["cpu", "cuda"];

    /// <summary>True when no session option differs from its default.</summary>
    public bool HasDefaultSessionOptions => Threads == 0 && Optimization == "all" && ExecutionProvider == "cpu";

    /// <summary>Verification switched off.</summary>
    public static VerifySettings Off { get; } = new(Enabled: false);
}
