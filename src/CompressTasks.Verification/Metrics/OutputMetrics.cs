namespace CompressTasks.Verification;

/// <summary>How far one output of the compressed model (student) is from the original's (teacher).</summary>
/// <param name="MaxAbsError">max |s − t|</param>
/// <param name="MeanAbsError">mean |s − t|</param>
/// <param name="RelativeError">‖s − t‖₂ / ‖t‖₂ (0 when both are zero)</param>
/// <param name="Cosine">⟨s, t⟩ / (‖s‖₂‖t‖₂); 1 when both are zero</param>
/// <param name="SnrDb">10·log10(‖t‖² / ‖s − t‖²); +∞ when identical</param>
/// <param name="Top1Agreement">fraction of rows whose arg-max agrees, for outputs shaped [rows, classes]; null otherwise</param>
/// <param name="Top5Agreement">fraction of rows whose teacher arg-max is in the student's top 5; null otherwise</param>
public sealed record OutputMetrics(
    string Output,
    double MaxAbsError,
    double MeanAbsError,
    double RelativeError,
    double Cosine,
    double SnrDb,
    double? Top1Agreement,
    double? Top5Agreement)
{
    /// <summary>max |t|: the teacher output's peak magnitude, the scale float rounding noise is judged against.</summary>
    public double TeacherPeak { get; init; }

    /// <summary>
    /// Computes the metrics over flattened outputs. Sums are accumulated in double: outputs are small next to
    /// weights, and a cosine of 0.99999 needs the precision. <paramref name="classes"/> &gt; 1 enables top-k agreement.
    /// </summary>
    public static OutputMetrics Compute(string output, ReadOnlySpan<float> teacher, ReadOnlySpan<float> student, int classes = 0)
    {
        if (teacher.Length != student.Length)
            throw new ArgumentException($"output '{output}' has {teacher.Length} elements in the original and {student.Length} in the compressed model");
        double maxAbs = 0, sumAbs = 0, dot = 0, tt = 0, ss = 0, dd = 0, peak = 0;
        for (int i = 0; i < teacher.Length; i++)
        {
            double t = teacher[i], s = student[i], d = s - t;
            double ad = Math.Abs(d);
            if (ad > maxAbs || double.IsNaN(ad)) maxAbs = ad;
            if (Math.Abs(t) > peak) peak = Math.Abs(t);
            sumAbs += ad;
            dot += t * s;
            tt += t * t;
            ss += s * s;
            dd += d * d;
        }
        double n = Math.Max(1, teacher.Length);
        double relative = tt == 0 ? (dd == 0 ? 0 : double.PositiveInfinity) : Math.Sqrt(dd / tt);
        double cosine = tt == 0 && ss == 0 ? 1 : tt == 0 || ss == 0 ? 0 : dot / Math.Sqrt(tt * ss);
        double snr = dd == 0 ? double.PositiveInfinity : 10 * Math.Log10(tt / dd);
        double? top1 = null, top5 = null;
        if (classes > 1 && teacher.Length % classes == 0 && teacher.Length > 0)
        {
            int rows = teacher.Length / classes, agree1 = 0, agree5 = 0;
            for (int r = 0; r < rows; r++)
            {
                var t = teacher.Slice(r * classes, classes);
                var s = student.Slice(r * classes, classes);
                int best = ArgMax(t);
                if (best == ArgMax(s)) agree1++;
                if (Rank(s, best) < 5) agree5++;
            }
            top1 = (double)agree1 / rows;
            top5 = (double)agree5 / rows;
        }
        return new OutputMetrics(output, maxAbs, sumAbs / n, relative, cosine, snr, top1, top5) { TeacherPeak = peak };
    }

    /// <summary>Index of the largest value (first on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            if (values[i] > values[best]) best = i;
        return best;
    }

    // How many values are strictly larger than values[index] (0 = it is the maximum).
    private static int Rank(ReadOnlySpan<float> values, int index)
    {
        int rank = 0;
        float v = values[index];
        foreach (var x in values)
            if (x > v) rank++;
        return rank;
    }
}
