using CompressTasks.Model.Onnx;
using CompressTasks.Runtime;

namespace CompressTasks.Verification;

/// <summary>
/// The search inside control flow. ONNX Runtime cannot expose a value computed inside an If branch as a graph output, so
/// when the first value to drift is an If's output, the branch that ran is cut out as a model of its own and compared
/// the same way.
/// </summary>
/// <remarks>
/// <code>
///   main graph:  … ─▶ cond ─▶ If(then_branch | else_branch) ─▶ y        (y drifts first)
///   standalone:  inputs = the outer-scope values the branch reads, captured from each model's own main-graph run
///                initializers = the main-graph weights it reads, copied;  nodes = the branch's;  outputs = the branch's
/// </code>
/// Each model's branch runs on the values its own main graph computed, so the search sees what really ran; since every
/// main-graph value before the If stayed within the threshold, the first branch value past it is where the drift starts.
/// A nested If is searched the same way (to a depth of 4). The branch is the one the teacher's condition chose; when
/// the student's condition chose the other, that is the finding. Loop and Scan bodies run once per iteration, with
/// state carried between iterations, so no single standalone run reproduces them: the Loop or Scan node and its body are
/// named, without a node inside.
/// </remarks>
public static partial class LayerComparer
{
    private const int MaxDepth = 4;

    private static LayerDivergence IntoBody(LayerDivergence found, NodeProto node, ModelProto teacher, ModelProto student,
        IReadOnlyDictionary<string, TensorValue> teacherFeed, IReadOnlyDictionary<string, TensorValue> studentFeed, Sides sides,
        RuntimeOptions runtime, double? minCosine, double maxRelativeError, int depth)
    {
        if (node.OpType != "If")
            return found with { Body = "body", BodyNote = $"values inside a {node.OpType} body change every iteration and cannot be compared by a single run" };
        var twin = student.Graph.Node.FirstOrDefault(n => n.OpType == "If" && n.Output.SequenceEqual(node.Output));
        if (twin is null || depth >= MaxDepth)
            return found with { Body = "branch", BodyNote = twin is null ? "the compressed model has no If with the same outputs" : "nested too deep to search" };

        var cond = node.Input[0];
        bool teacherTook = Condition(teacher, cond, teacherFeed, runtime, "teacher", sides.Teacher);
        bool studentTook = Condition(student, twin.Input[0], studentFeed, runtime, "student", sides.Student);
        string branch = teacherTook ? "then_branch" : "else_branch";
        if (teacherTook != studentTook)
            return found with { Body = branch, BodyNote = $"the compressed model took the {(studentTook ? "then_branch" : "else_branch")} instead" };

        var teacherBranch = node.Attribute.Single(a => a.Name == branch).G;
        var studentBranch = twin.Attribute.Single(a => a.Name == branch).G;
        var teacherModel = Standalone(teacher, teacherBranch, teacherFeed, runtime, "teacher", sides.Teacher, out var teacherInputs);
        var studentModel = Standalone(student, studentBranch, studentFeed, runtime, "student", sides.Student, out var studentInputs);
        var inner = FindFirstDivergence(teacherModel, studentModel, teacherInputs, studentInputs, sides, runtime, minCosine, maxRelativeError, depth + 1);
        return found with
        {
            Body = branch,
            Inner = inner,
            BodyNote = inner is null ? "no value inside the branch drifts past the threshold on its own; the drift builds up across its outputs" : null,
        };
    }

    // The If's condition as the model computed it on its feed.
    private static bool Condition(ModelProto model, string cond, IReadOnlyDictionary<string, TensorValue> feed, RuntimeOptions runtime, string role, string? folder)
    {
        var value = feed.TryGetValue(cond, out var given) ? given : Run(model, [cond], feed, runtime, role, folder)[0];
        return value.Data.Length > 0 && value.Data[0] != 0;
    }

    // The branch as a model: outer-scope weights copied in as initializers, other outer-scope values as inputs fed with
    // what the model's main graph computed for them on its feed.
    private static ModelProto Standalone(ModelProto model, GraphProto branch, IReadOnlyDictionary<string, TensorValue> feed, RuntimeOptions runtime,
        string role, string? folder, out Dictionary<string, TensorValue> inputs)
    {
        var graph = branch.Clone();
        graph.Name = branch.Name.Length > 0 ? branch.Name : "branch";
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var outer = new List<string>();
        foreach (var name in OuterReads(branch))
        {
            if (feed.ContainsKey(name) || !initializers.TryGetValue(name, out var weight)) outer.Add(name);
            else graph.Initializer.Add(weight.Clone());
        }
        var computed = outer.Where(n => !feed.ContainsKey(n)).ToArray();
        var values = computed.Length == 0 ? [] : Run(model, computed, feed, runtime, role, folder);
        inputs = new Dictionary<string, TensorValue>(StringComparer.Ordinal);
        for (int i = 0; i < computed.Length; i++) inputs[computed[i]] = values[i];
        foreach (var name in outer.Where(feed.ContainsKey)) inputs[name] = feed[name];
        foreach (var (name, value) in inputs) graph.Input.Add(Typed(name, value));
        var copy = new ModelProto { IrVersion = model.IrVersion, Graph = graph };
        copy.OpsetImport.Add(model.OpsetImport);
        return copy;
    }

    private static ValueInfoProto Typed(string name, TensorValue value)
    {
        var shape = new TensorShapeProto();
        foreach (var d in value.Shape) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = value.ElementType, Shape = shape } } };
    }

    // Names a graph (or a graph nested in it) reads that it does not define itself, in first-read order.
    private static List<string> OuterReads(GraphProto graph)
    {
        var defined = new HashSet<string>(graph.Input.Select(i => i.Name).Concat(graph.Initializer.Select(t => t.Name)), StringComparer.Ordinal);
        var reads = new List<string>();
        void Read(string name)
        {
            if (name.Length > 0 && !defined.Contains(name) && !reads.Contains(name)) reads.Add(name);
        }
        foreach (var node in graph.Node)
        {
            foreach (var input in node.Input) Read(input);
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is { } g) foreach (var name in OuterReads(g)) Read(name);
                foreach (var sub in attribute.Graphs) foreach (var name in OuterReads(sub)) Read(name);
            }
            foreach (var output in node.Output) defined.Add(output);
        }
        return reads;
    }
}
