using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Replaces the exact (erf) form of GELU, as exporters spell it out, by one Gelu node.
/// </summary>
/// <remarks>
/// <code>
///   y = Mul(Mul(x, Add(Erf(Div(x, √2)), 1)), 0.5)      ⇒      y = Gelu(x)      GELU(x) = ½·x·(1 + erf(x/√2))
/// </code>
/// Also matched: Mul(x, 1/√2) for the Div, and the ½ applied to x first (Mul(Mul(x, ½), …)) or to the bracket
/// (Mul(x, Mul(…, ½))). Constants must be float scalars within 1e-4 of √2, 1/√2, 1 and ½. Every intermediate is read
/// only inside the pattern and none is a graph output; y keeps its name. Where the Gelu comes from is a parameter:
/// <c>domain: standard</c> (default) emits ONNX Gelu, which needs opset 20 (lower opsets are skipped, never raised);
/// <c>domain: com.microsoft</c> emits ONNX Runtime's contrib Gelu (any opset, ORT only), importing that domain.
/// </remarks>
public sealed class FuseGelu : PatternPass<FuseGelu.Found>
{
    public sealed record Found(Node[] Nodes, string X, string Output);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-gelu", PassKind.Fusion,
        "Replaces x·½·(1 + erf(x/√2)) by Gelu (ONNX opset 20, or ONNX Runtime's com.microsoft Gelu when asked).",
        [ContribDomain.Parameter(
            "standard: ONNX Gelu (opset 20 and later only); com.microsoft: ONNX Runtime's contrib Gelu, for models run only by ORT.")],
        "- fuse-gelu: { domain: com.microsoft }");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Erf" };

    protected override Found? Match(Node erf, PassArguments arguments, PassResult result)
    {
        var graph = erf.Graph!;
        var scale = graph.GetProducer(erf.Inputs[0]);
        if (scale is null || !(scale.Is("Div") && IsScalar(graph, scale.Inputs[1], MathF.Sqrt(2)) || scale.Is("Mul") && IsScalar(graph, scale.Inputs[1], 1 / MathF.Sqrt(2))))
            return null;
        string x = scale.Inputs[0];
        if (SingleReader(graph, erf.Outputs[0]) is not { } plusOne || !plusOne.Is("Add") || !IsScalar(graph, Other(plusOne, erf.Outputs[0]), 1)) return null;
        if (SingleReader(graph, plusOne.Outputs[0]) is not { } m1 || !m1.Is("Mul")) return null;
        string partner = Other(m1, plusOne.Outputs[0]);
        Node[] nodes;
        if (partner == x && SingleReader(graph, m1.Outputs[0]) is { } half && half.Is("Mul") && IsScalar(graph, Other(half, m1.Outputs[0]), 0.5f))
            nodes = [scale, erf, plusOne, m1, half];                                   // (x · (1 + erf)) · ½
        else if (graph.GetProducer(partner) is { } xHalf && xHalf.Is("Mul") && xHalf.Inputs.Contains(x) && IsScalar(graph, Other(xHalf, x), 0.5f)
            && SingleReader(graph, partner) == m1)
            nodes = [xHalf, scale, erf, plusOne, m1];                                  // (x · ½) · (1 + erf)
        else if (IsScalar(graph, partner, 0.5f) && SingleReader(graph, m1.Outputs[0]) is { } withX && withX.Is("Mul") && Other(withX, m1.Outputs[0]) == x)
            nodes = [scale, erf, plusOne, m1, withX];                                  // x · ((1 + erf) · ½)
        else return null;
        if (SingleReader(graph, scale.Outputs[0]) != erf) return null;
        string where = $"{erf} (Gelu pattern)";
        for (int i = 0; i < nodes.Length; i++)
            if (nodes[i] != nodes[^1] && graph.MustKeepName(nodes[i].Outputs[0])) return Skip(result, $"{where}: '{nodes[i].Outputs[0]}' is a graph output");
        if (!ContribDomain.IsAsked(arguments) && (graph.GetOpsetVersion("") ?? 1) < 20)
            return Skip(result, $"{where}: ONNX Gelu needs opset 20; the model imports {graph.GetOpsetVersion("")} (not raised; use domain: com.microsoft for ONNX Runtime)");
        return new Found(nodes, x, nodes[^1].Outputs[0]);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        bool microsoft = ContribDomain.IsAsked(arguments);
        if (microsoft) ContribDomain.Import(graph);
        graph.CreateNode("Gelu", [m.X], [m.Output], before: m.Nodes[0], domain: microsoft ? ContribDomain.Name : "");
        var operands = m.Nodes.SelectMany(n => n.Inputs).Where(i => i != m.X).Distinct().ToArray();
        graph.RemoveNodes(m.Nodes);
        foreach (var name in operands) Weights.RemoveIfUnused(graph, name);
        return true;
    }

    private static string Other(Node node, string one) => node.Inputs.Count == 2 ? (node.Inputs[0] == one ? node.Inputs[1] : node.Inputs[0]) : "";

    private static bool IsScalar(Graph graph, string name, float value) =>
        graph.TryGetConstant(name) is { DataType: 1, ElementCount: 1 } c && MathF.Abs(c.AsFloat()[0] - value) <= 1e-4f;
}
