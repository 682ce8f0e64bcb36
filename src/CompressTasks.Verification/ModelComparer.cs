using CompressTasks.Runtime;

namespace CompressTasks.Verification;

/// <summary>Inputs and session settings for a teacher/student comparison.</summary>
public sealed record ComparisonOptions
{
    public RuntimeOptions Runtime { get; init; } = new();

    /// <summary>Shapes for inputs with free dimensions (the recipe's <c>inputs:</c>).</summary>
    public IReadOnlyDictionary<string, long[]>? PinnedShapes { get; init; }

    /// <summary>Values pinned for generated inputs (the recipe's <c>inputs: { sr: { values: [...] } }</c>): sample i takes item i mod count.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<IReadOnlyList<double>>>? PinnedValues { get; init; }

    /// <summary>Given feeds (evaluation data); when null, <see cref="Samples"/> generated feeds are used.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, TensorValue>>? Feeds { get; init; }

    public int Samples { get; init; } = 4;

    /// <summary>Class labels, one per row of the feeds in order; enables accuracy for the first [rows, classes] output.</summary>
    public IReadOnlyList<long>? Labels { get; init; }

    public int Seed { get; init; } = 20261124;
}

/// <summary>Per-output metrics of a comparison, over all samples.</summary>
public sealed record ComparisonResult(IReadOnlyList<OutputMetrics> Outputs, int Samples)
{
    /// <summary>Top-1 accuracy against the labels, when labels were given.</summary>
    public double? TeacherAccuracy { get; init; }

    public double? StudentAccuracy { get; init; }

    /// <summary>The lowest cosine over all outputs (1 when there are none).</summary>
    public double MinCosine => Outputs.Count == 0 ? 1 : Outputs.Min(o => o.Cosine);
}

/// <summary>
/// Runs the original model (teacher) and the compressed one (student) on the same inputs with the same session
/// options and measures how far the student's outputs drift.
/// </summary>
/// <summary>The teacher's outputs on a fixed set of feeds: each output's values over all feeds, concatenated.</summary>
public sealed record TeacherRecording(
    IReadOnlyList<string> OutputNames, IReadOnlyList<IReadOnlyDictionary<string, TensorValue>> Feeds, IReadOnlyList<float[]> Outputs, IReadOnlyList<int> Classes);

public static class ModelComparer
{
    public static ComparisonResult Compare(string teacherPath, string studentPath, ComparisonOptions options)
    {
        using var teacher = ModelSession.Open(teacherPath, options.Runtime);
        using var student = ModelSession.Open(studentPath, options.Runtime);
        return Compare(teacher, student, options);
    }

    public static ComparisonResult Compare(ModelSession teacher, ModelSession student, ComparisonOptions options) =>
        Compare(Record(teacher, options), student, options);

    /// <summary>Runs the teacher once on the options' feeds (or generated inputs), for comparing many students.</summary>
    public static TeacherRecording Record(ModelSession teacher, ComparisonOptions options)
    {
        var feeds = options.Feeds ?? Enumerable.Range(0, options.Samples)
            .Select(i => (IReadOnlyDictionary<string, TensorValue>)InputGenerator.Generate(teacher.Inputs, options.PinnedShapes, options.Seed + i, options.PinnedValues, i))
            .ToList();
        var names = teacher.Outputs.Select(o => o.Name).ToArray();
        var t = names.Select(_ => new List<float>()).ToArray();
        var classes = new int[names.Length];
        foreach (var feed in feeds)
        {
            var teacherOut = teacher.Run(feed, names);
            for (int i = 0; i < names.Length; i++)
            {
                t[i].AddRange(teacherOut[i].ToFloats());
                var shape = teacherOut[i].Shape;
                // Only a [rows, classes] output is read as class scores for top-k agreement.
                classes[i] = shape.Length == 2 && shape[1] > 1 ? (int)shape[1] : 0;
            }
        }
        return new TeacherRecording(names, feeds, [.. t.Select(l => l.ToArray())], classes);
    }

    /// <summary>Compares a student against a recorded teacher, on the recording's feeds.</summary>
    public static ComparisonResult Compare(TeacherRecording teacher, ModelSession student, ComparisonOptions options)
    {
        var names = teacher.OutputNames;
        var s = names.Select(_ => new List<float>()).ToArray();
        foreach (var feed in teacher.Feeds)
        {
            var studentOut = student.Run(feed, names);
            for (int i = 0; i < names.Count; i++) s[i].AddRange(studentOut[i].ToFloats());
        }
        var metrics = new OutputMetrics[names.Count];
        for (int i = 0; i < names.Count; i++)
            metrics[i] = OutputMetrics.Compute(names[i], teacher.Outputs[i], s[i].ToArray(), teacher.Classes[i]);
        int scored = Array.FindIndex(teacher.Classes.ToArray(), c => c > 1);
        if (options.Labels is null || scored < 0) return new ComparisonResult(metrics, teacher.Feeds.Count);
        return new ComparisonResult(metrics, teacher.Feeds.Count)
        {
            TeacherAccuracy = Accuracy(teacher.Outputs[scored], teacher.Classes[scored], options.Labels),
            StudentAccuracy = Accuracy(s[scored].ToArray(), teacher.Classes[scored], options.Labels),
        };
    }

    private static double Accuracy(float[] scores, int classes, IReadOnlyList<long> labels)
    {
        var span = scores.AsSpan();
        int rows = Math.Min(span.Length / classes, labels.Count), correct = 0;
        for (int r = 0; r < rows; r++)
            if (OutputMetrics.ArgMax(span.Slice(r * classes, classes)) == labels[r]) correct++;
        return rows == 0 ? 0 : (double)correct / rows;
    }
}
