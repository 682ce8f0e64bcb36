using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization.Static;

/// <summary>
/// Which nodes of the main graph <c>quantize-static</c> quantizes and which activations get a Q/DQ pair, decided
/// before anything is edited.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>A weighted node (Conv, MatMul, Gemm) is quantized when its weight was chosen by the weight selection and
/// its input 0 is a float32 activation.</item>
/// <item>Any other listed node is quantized when all its data inputs are float32 activations and its output
/// feeds a quantized node (directly or through a Relu that ONNX Runtime folds away): otherwise Q/DQ would only
/// surround a float operator, costing accuracy and buying nothing. Deciding from the last node back settles
/// chains such as Reshape → Transpose → Conv.</item>
/// <item>An activation gets Q/DQ when a quantized node reads it as a data input, and so does a quantized Conv's
/// output (after a lone Relu), which QLinearConv needs. Every reader then reads the dequantized value, float
/// readers included: ONNX Runtime fuses only when the operator's output goes to its Q alone. Graph outputs keep
/// their float value. Outputs of data-movement nodes reuse their input's scale (<see cref="SharedFrom"/>).</item>
/// </list>
/// </remarks>
internal sealed class QdqPlan
{
    /// <summary>Quantized nodes, in graph order.</summary>
    public List<Node> Nodes { get; } = [];

    /// <summary>Activations to quantize, in the order quantized nodes first read them.</summary>
    public List<string> Activations { get; } = [];

    /// <summary>Activation → the activation whose scale and zero point it reuses (data-movement outputs).</summary>
    public Dictionary<string, string> SharedFrom { get; } = new(StringComparer.Ordinal);

    public static QdqPlan Build(Graph main, IReadOnlySet<Node> weighted, IReadOnlySet<string> activationOps,
        IReadOnlyDictionary<string, int> elementTypes, PassResult result)
    {
        long opset = main.GetOpsetVersion("") ?? 0;
        var chosen = new HashSet<Node>();
        bool IsFloatActivation(string name) =>
            name.Length > 0 && main.TryGetConstant(name) is null && elementTypes.TryGetValue(name, out int type) && type == 1;

        // Reads `name` as a data input, or reads it through a Relu whose output is read that way.
        bool FeedsQuantized(string name) => main.GetConsumers(name).Any(use =>
            (chosen.Contains(use.Node) && IsDataInput(use.Node, use.Index))
            || (use.Node.Is("Relu") && use.Node.Graph == main && FeedsQuantized(use.Node.Outputs[0])));

        var nodes = main.Nodes;
        for (int i = nodes.Count - 1; i >= 0; i--)
        {
            var node = nodes[i];
            if (!Graph.IsDefaultDomain(node.Domain) || QdqOperators.Find(node.OpType) is not { } op) continue;
            if (op.Role == QdqRole.Weighted)
            {
                if (!weighted.Contains(node)) continue;
                result.RecordMatch();
                if (!IsFloatActivation(node.Inputs[0])) result.Skip($"{node}: input '{node.Inputs[0]}' is not a float32 activation");
                else chosen.Add(node);
                continue;
            }
            if (!activationOps.Contains(node.OpType) || opset < op.MinOpset || node.Outputs.Count == 0) continue;
            var data = QdqOperators.DataInputs(op.Role, node.Inputs.Count).ToList();
            if (data.Any(d => d >= node.Inputs.Count || !IsFloatActivation(node.Inputs[d]))) continue;
            if (!FeedsQuantized(node.Outputs[0])) continue;
            result.RecordMatch();
            chosen.Add(node);
        }

        var plan = new QdqPlan();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            if (!chosen.Contains(node)) continue;
            plan.Nodes.Add(node);
            var role = QdqOperators.Find(node.OpType)!.Role;
            foreach (var d in QdqOperators.DataInputs(role, node.Inputs.Count))
                if (seen.Add(node.Inputs[d])) plan.Activations.Add(node.Inputs[d]);
        }
        // QLinearConv needs a Q on the Conv's output (after a lone Relu, which it absorbs), wherever that goes.
        foreach (var node in plan.Nodes)
        {
            if (!node.Is("Conv")) continue;
            string output = node.Outputs[0];
            if (main.GetConsumers(output) is [{ Node: var relu }] && relu.Is("Relu") && relu.Graph == main && !main.IsGraphOutput(output))
                output = relu.Outputs[0];
            if (!main.IsGraphOutput(output) && IsFloatActivation(output) && seen.Add(output)) plan.Activations.Add(output);
        }
        foreach (var node in plan.Nodes)
            if (QdqOperators.Find(node.OpType)!.Role == QdqRole.SharesInput && seen.Contains(node.Outputs[0]))
                plan.SharedFrom[node.Outputs[0]] = node.Inputs[0];
        return plan;
    }

    /// <summary>Whether input <paramref name="index"/> of a listed node carries an activation to quantize.</summary>
    public static bool IsDataInput(Node node, int index) =>
        QdqOperators.Find(node.OpType) is { } op && QdqOperators.DataInputs(op.Role, node.Inputs.Count).Contains(index);
}
