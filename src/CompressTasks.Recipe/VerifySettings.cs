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
public sealed record VerifySettings(
    bool Enabled = true, double? MinCosine = null, double? MaxAbsError = null, double? MaxTop1Drop = null, bool Latency = false)
{
    /// <summary>Verification switched off.</summary>
    public static VerifySettings Off { get; } = new(Enabled: false);
}
