using System.Globalization;

namespace CompressTasks.Verification;

/// <summary>
/// How far the compressed model may drift from the original. Each limit is optional; a broken limit is a
/// violation (the build fails), one within 10% of its limit a near miss (a warning).
/// </summary>
/// <param name="MinCosine">Lowest cosine similarity allowed on any output.</param>
/// <param name="MaxAbsError">Largest absolute difference allowed on any output element.</param>
/// <param name="MaxTop1Drop">Largest top-1 loss allowed, as a fraction: accuracy drop against labels when
/// given, otherwise disagreement with the original's top-1.</param>
public sealed record AccuracyBudget(double? MinCosine, double? MaxAbsError, double? MaxTop1Drop)
{
    /// <summary>Violations and near misses of <paramref name="result"/> against this budget.</summary>
    public (IReadOnlyList<string> Violations, IReadOnlyList<string> NearMisses) Check(ComparisonResult result)
    {
        var violations = new List<string>();
        var near = new List<string>();
        var c = CultureInfo.InvariantCulture;
        foreach (var o in result.Outputs)
        {
            if (MinCosine is { } minCos)
            {
                // Cosine is compared by its distance from 1: 0.999 vs 0.9995 is a factor of two, not 0.05%.
                if (o.Cosine < minCos) violations.Add(string.Create(c, $"output '{o.Output}' has cosine {o.Cosine:0.000000}, below min-cosine {minCos}"));
                else if (1 - o.Cosine > 0.9 * (1 - minCos)) near.Add(string.Create(c, $"output '{o.Output}' has cosine {o.Cosine:0.000000}, close to min-cosine {minCos}"));
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
