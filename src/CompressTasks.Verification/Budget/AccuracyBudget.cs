using System.Globalization;

namespace CompressTasks.Verification;

/// <summary>
/// How far the compressed model may drift from the original. Each limit is optional; a broken limit is a
/// violation (the build fails), one within 10% of its limit a near miss (a warning).
/// </summary>
/// <remarks>
/// Outputs near zero: cosine and SNR compare the error with the output's own size, so when the outputs are a few
/// float32 rounding steps away from zero (a probability map that is ~1e-6 everywhere, a difference of nearly equal
/// values) they read noise and can say 0.3 for two models that agree to 1e-7. Rule: an output whose cosine or SNR breaks
/// the budget while its largest error is at float32 rounding noise, at most <see cref="NoiseSteps"/> ε₃₂ ·
/// max(1, max |t|) (≈ 9.5e-7 for outputs of unit scale or below), does not break the budget on cosine or SNR; it is
/// reported as a note (<see cref="FloatNoiseNotes"/>, warning CT3020) that says so. <c>max-abs-error</c> and top-1
/// still apply to it: they are the meaningful limits there. The floor of 1 in the scale is deliberate: without it, an
/// output that is noise at every element would always look like a relative error of order 1.
/// </remarks>
/// <param name="MinCosine">Lowest cosine similarity allowed on any output.</param>
/// <param name="MaxAbsError">Largest absolute difference allowed on any output element.</param>
/// <param name="MaxTop1Drop">Largest top-1 loss allowed, as a fraction: accuracy drop against labels when
/// given, otherwise disagreement with the original's top-1.</param>
/// <param name="MinSnrDb">Lowest signal-to-noise ratio allowed on any output, in dB.</param>
public sealed record AccuracyBudget(double? MinCosine, double? MaxAbsError, double? MaxTop1Drop, double? MinSnrDb = null)
{
    /// <summary>Float32 rounding steps (ε₃₂ = 2⁻²³) an error may reach and still count as noise.</summary>
    public const double NoiseSteps = 8;

    /// <summary>Whether <paramref name="o"/>'s largest error is float32 rounding noise at its scale (see the remarks).</summary>
    public static bool AtFloatNoise(OutputMetrics o) => o.MaxAbsError <= NoiseSteps * Math.Pow(2, -23) * Math.Max(1, o.TeacherPeak);

    /// <summary>Outputs whose cosine or SNR breaks this budget only because they are at float noise: the CT3020 notes.</summary>
    public IReadOnlyList<string> FloatNoiseNotes(ComparisonResult result)
    {
        var c = CultureInfo.InvariantCulture;
        var notes = new List<string>();
        foreach (var o in result.Outputs)
        {
            bool cosine = MinCosine is { } minCos && o.Cosine < minCos, snr = MinSnrDb is { } minSnr && o.SnrDb < minSnr;
            if ((cosine || snr) && AtFloatNoise(o))
                notes.Add(string.Create(c, $"output '{o.Output}' has cosine {o.Cosine:0.000000} and SNR {o.SnrDb:0.0} dB, but its largest error {o.MaxAbsError:G3} is float32 rounding noise at its scale (max |t| {o.TeacherPeak:G3}); cosine and SNR are meaningless this close to zero, so they are not held against it; set max-abs-error to bound it"));
        }
        return notes;
    }

    /// <summary>Violations and near misses of <paramref name="result"/> against this budget.</summary>
    public (IReadOnlyList<string> Violations, IReadOnlyList<string> NearMisses) Check(ComparisonResult result)
    {
        var violations = new List<string>();
        var near = new List<string>();
        var c = CultureInfo.InvariantCulture;
        foreach (var o in result.Outputs)
        {
            bool noise = AtFloatNoise(o);
            if (MinCosine is { } minCos && !(noise && o.Cosine < minCos))
            {
                // Cosine is compared by its distance from 1: 0.999 vs 0.9995 is a factor of two, not 0.05%.
                if (o.Cosine < minCos) violations.Add(string.Create(c, $"output '{o.Output}' has cosine {o.Cosine:0.000000}, below min-cosine {minCos}"));
                else if (1 - o.Cosine > 0.9 * (1 - minCos)) near.Add(string.Create(c, $"output '{o.Output}' has cosine {o.Cosine:0.000000}, close to min-cosine {minCos}"));
            }
            if (MinSnrDb is { } minSnr && !(noise && o.SnrDb < minSnr))
            {
                // dB are already logarithmic: a near miss is within 1 dB of the limit.
                if (!(o.SnrDb >= minSnr)) violations.Add(string.Create(c, $"output '{o.Output}' has SNR {o.SnrDb:0.0} dB, below min-snr {minSnr} dB"));
                else if (o.SnrDb < minSnr + 1) near.Add(string.Create(c, $"output '{o.Output}' has SNR {o.SnrDb:0.0} dB, close to min-snr {minSnr} dB"));
            }
            if (MaxAbsError is { } maxAbs)
            {
                if (!(o.MaxAbsError <= maxAbs)) violations.Add(string.Create(c, $"output '{o.Output}' differs by up to {o.MaxAbsError:G4}, above max-abs-error {maxAbs}"));
                else if (o.MaxAbsError > 0.9 * maxAbs) near.Add(string.Create(c, $"output '{o.Output}' differs by up to {o.MaxAbsError:G4}, close to max-abs-error {maxAbs}"));
            }
        }
        if (MaxTop1Drop is { } maxDrop)
        {
            double? drop = result.TeacherAccuracy is { } ta && result.StudentAccuracy is { } sa ? ta - sa
                : result.Outputs.Where(o => o.Top1Agreement is not null).Select(o => 1 - o.Top1Agreement!.Value).DefaultIfEmpty(double.NaN).Max();
            string what = result.TeacherAccuracy is not null ? "top-1 accuracy drop" : "top-1 disagreement with the original";
            if (drop is { } d && !double.IsNaN(d))
            {
                if (d > maxDrop) violations.Add(string.Create(c, $"{what} is {100 * d:0.00}%, above max-top1-drop {100 * maxDrop:0.##}%"));
                else if (d > 0.9 * maxDrop) near.Add(string.Create(c, $"{what} is {100 * d:0.00}%, close to max-top1-drop {100 * maxDrop:0.##}%"));
            }
        }
        return (violations, near);
    }
}
