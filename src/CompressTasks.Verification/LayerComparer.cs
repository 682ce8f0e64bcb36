using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime;
using Google.Protobuf;

namespace CompressTasks.Verification;

/// <summary>The first node, in topological order, whose output drifts past the threshold.</summary>
/// <param name="Node">The node's name (its first output's name when it has none).</param>
/// <param name="OpType">The node's operator.</param>
/// <param name="Value">The output that drifted.</param>
public sealed record LayerDivergence(string Node, string OpType, string Value, double Cosine, double RelativeError)
{
    /// <summary>
    /// When <see cref="Node"/> is an If, Loop or Scan: the body the drift starts in (<c>then_branch</c>, <c>else_branch</c>,
    /// <c>body</c>), or null for an ordinary node.
    /// </summary>
    public string? Body { get; init; }

    /// <summary>The first node inside <see cref="Body"/> whose output drifts, when it could be found (If branches); null otherwise.</summary>
    public LayerDivergence? Inner { get; init; }

    /// <summary>Why the body could not be searched, when it could not (a Loop or Scan body, the branches taken differ, ...).</summary>
    public string? BodyNote { get; init; }

    /// <summary>The phrase the CT3003 message and the report show.</summary>
    public override string ToString() => "first divergence: " + Describe();

    private string Describe()
    {
        var text = string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"node '{Node}' ({OpType}), cosine {Cosine:G9}, relative error {RelativeError:G4}");
        if (Body is null) return text;
        if (Inner is { } inner) return $"{text}, inside its {Body} at {inner.Describe()}";
        return $"{text}, inside its {Body}{(BodyNote is null ? "" : $" ({BodyNote})")}";
    }
}

/// <summary>
/// Finds where a compressed model (student) starts to drift from the original (teacher) when the output budget is
/// broken: every node output of the main graph that both models produce under the same name becomes a graph output
/// of an in-memory copy, both copies run on one feed, and each common value is compared in the teacher's node order.
/// </summary>
/// <remarks>
/// ONNX requires a graph's nodes to be topologically sorted, so the teacher's node order is a topological order and
/// the first value past the threshold is the earliest place the error appears; later values inherit it. One feed
/// is enough to locate the drift and keeps memory to one copy of every intermediate value. A copy is the model's tree
/// with a few more outputs, opened from bytes: external data stays a reference, which ONNX Runtime resolves in the
/// folder of the file the model came from (the path overload), so models past 2 GiB are searched as well; without
/// a file (the tree overload) a model with external data is not compared (null).
/// </remarks>
public static partial class LayerComparer
{
    /// <summary>Relative error that counts as divergence when the budget sets no min-cosine.</summary>
    public const double DefaultMaxRelativeError = 0.01;

    /// <summary>
    /// Compares teacher and student layer by layer on <paramref name="feed"/>. With <paramref name="minCosine"/> a
    /// value diverges when its cosine is below it; otherwise when its relative error exceeds
    /// <paramref name="maxRelativeError"/>.
    /// </summary>
    public static LayerDivergence? FindFirstDivergence(string teacherPath, string studentPath, IReadOnlyDictionary<string, TensorValue> feed,
        RuntimeOptions runtime, double? minCosine, double maxRelativeError = DefaultMaxRelativeError)
    {
        using var teacher = OnnxModel.Load(teacherPath);
        using var student = OnnxModel.Load(studentPath);
        var sides = new Sides(Folder(teacherPath), Folder(studentPath));
        return FindFirstDivergence(teacher.Proto, student.Proto, feed, feed, sides, runtime, minCosine, maxRelativeError, depth: 0);
    }

    /// <summary>As the path overload, for models in memory: null when either keeps weights in external data.</summary>
    public static LayerDivergence? FindFirstDivergence(ModelProto teacher, ModelProto student, IReadOnlyDictionary<string, TensorValue> feed,
        RuntimeOptions runtime, double? minCosine, double maxRelativeError = DefaultMaxRelativeError)
    {
        if (HasExternalData(teacher) || HasExternalData(student)) return null;
        return FindFirstDivergence(teacher, student, feed, feed, new Sides(null, null), runtime, minCosine, maxRelativeError, depth: 0);
    }

    // Where each model's external data lies (the folder of its file); null for a model without a file.
    private readonly record struct Sides(string? Teacher, string? Student);

    private static string Folder(string path) => Path.GetDirectoryName(Path.GetFullPath(path))!;

    // Each model runs on its own feed: the same one at the top, each model's own captured values inside a body.
    private static LayerDivergence? FindFirstDivergence(ModelProto teacher, ModelProto student, IReadOnlyDictionary<string, TensorValue> teacherFeed,
        IReadOnlyDictionary<string, TensorValue> studentFeed, Sides sides, RuntimeOptions runtime, double? minCosine, double maxRelativeError, int depth)
    {
        var produced = student.Graph.Node.SelectMany(n => n.Output).Where(o => o.Length > 0).ToHashSet(StringComparer.Ordinal);
        var candidates = teacher.Graph.Node
            .SelectMany(n => n.Output.Where(o => o.Length > 0 && produced.Contains(o)).Select(o => (Node: n, Value: o)))
            .ToList();
        if (candidates.Count == 0) return null;
        var names = candidates.Select(c => c.Value).ToArray();

        var t = Run(teacher, names, teacherFeed, runtime, "teacher", sides.Teacher);
        var s = Run(student, names, studentFeed, runtime, "student", sides.Student);
        for (int i = 0; i < candidates.Count; i++)
        {
            if (Compare(names[i], t[i], s[i]) is not { } m) continue;
            bool diverged = minCosine is { } min ? m.Cosine < min : !(m.RelativeError <= maxRelativeError);
            if (!diverged) continue;
            var node = candidates[i].Node;
            var found = new LayerDivergence(node.Name.Length > 0 ? node.Name : names[i], node.OpType, names[i], m.Cosine, m.RelativeError);
            return node.OpType is "If" or "Loop" or "Scan"
                ? IntoBody(found, node, teacher, student, teacherFeed, studentFeed, sides, runtime, minCosine, maxRelativeError, depth)
                : found;
        }
        return null;
    }

    // A copy of the model with every requested value as a graph output. A name-only ValueInfoProto is enough:
    // ONNX Runtime infers the type and shape when it resolves the graph.
    private static IReadOnlyList<TensorValue> Run(ModelProto model, string[] names, IReadOnlyDictionary<string, TensorValue> feed,
        RuntimeOptions runtime, string role, string? folder)
    {
        var copy = model.Clone();
        var existing = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in names)
            if (existing.Add(name)) copy.Graph.Output.Add(new ValueInfoProto { Name = name });
        using var session = ModelSession.Open(copy.ToByteArray(), $"{role} with intermediate outputs", runtime, folder);
        return session.Run(feed, names);
    }

    // Values that cannot be compared numerically (strings) or whose element count changed are skipped, not errors.
    private static OutputMetrics? Compare(string name, TensorValue teacher, TensorValue student)
    {
        if (teacher.ElementCount != student.ElementCount) return null;
        try
        {
            return OutputMetrics.Compute(name, teacher.ToFloats(), student.ToFloats());
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }

    private static bool HasExternalData(ModelProto model) => model.Graph.Initializer.Any(TensorData.IsExternal);
}
