using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Replaces a decomposed layer normalization (as PyTorch and TensorFlow export it) by one LayerNormalization.
/// </summary>
/// <remarks>
/// <code>
///   μ = ReduceMean(x, axes)   d = Sub(x, μ)   v = ReduceMean(Pow(d, 2), axes)   n = Div(d, Sqrt(Add(v, ε)))
///   y = Add(Mul(n, γ), β)                      ⇒      y = LayerNormalization(x, γ, β; axis = −k, epsilon = ε)
/// </code>
/// Preconditions (each failure a skip with its reason): the model imports opset 17 or later (LayerNormalization does
/// not exist before; the opset is never raised); both ReduceMeans keep dims and reduce the same last k axes; the
/// exponent is the constant 2 (or Pow is Mul(d, d)); ε is a float scalar constant; γ (and β, when there is an Add)
/// are float constants whose shape is exactly x's last k dims, known statically (else the Mul would broadcast, not
/// scale); every intermediate is read only inside the pattern (d by Pow and Div) and none is a graph output.
/// y keeps its name. LayerNormalization computes the variance as the mean of squared deviations, exactly as here.
/// <c>domain: com.microsoft</c> also fuses below opset 17, into ONNX Runtime's contrib LayerNormalization: ORT
/// registers that one (versions 1–16) in the ONNX domain itself, so the node looks standard but only ORT runs it and
/// onnx.checker rejects the model; at opset 17 and later both values emit the same standard node.
/// </remarks>
public sealed class FuseLayerNorm : PatternPass<FuseLayerNorm.Found>
{
    public sealed record Found(Node[] Nodes, string X, string Gamma, string? Beta, float Epsilon, int Axes, string Output);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-layernorm", PassKind.Fusion,
        "Replaces ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add by LayerNormalization (opset 17 and later, or ONNX Runtime's contrib one when asked).",
        [ContribDomain.Parameter(
            "standard: ONNX LayerNormalization (opset 17 and later only); com.microsoft: below opset 17 too, as ONNX Runtime's contrib LayerNormalization (ORT only).")],
        "- fuse-layernorm: { domain: com.microsoft }");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "ReduceMean" };

    protected override Found? Match(Node mean, PassArguments arguments, PassResult result)
    {
        var graph = mean.Graph!;
        string x = mean.Inputs[0];
        // μ's only reader is the Sub(x, μ); the other ReduceMean of the pattern (the variance) does not start one.
        if (SingleReader(graph, mean.Outputs[0]) is not { } sub || !sub.Is("Sub") || sub.Inputs[0] != x || sub.Inputs[1] != mean.Outputs[0]) return null;
        string d = sub.Outputs[0];
        var readers = graph.GetConsumers(d);
        var pow = readers.Select(r => r.Node).FirstOrDefault(n => n.Is("Pow") || n.Is("Mul") && n.Inputs[0] == d && n.Inputs[1] == d);
        var div = readers.Select(r => r.Node).FirstOrDefault(n => n.Is("Div") && n.Inputs[0] == d);
        if (readers.Count != (pow is not null && pow.Is("Mul") ? 3 : 2) || pow is null || div is null) return null;
        if (SingleReader(graph, pow.Outputs[0]) is not { } variance || !variance.Is("ReduceMean")) return null;
        if (SingleReader(graph, variance.Outputs[0]) is not { } addEps || !addEps.Is("Add")) return null;
        if (SingleReader(graph, addEps.Outputs[0]) is not { } sqrt || !sqrt.Is("Sqrt") || div.Inputs[1] != sqrt.Outputs[0]) return null;
        if (SingleReader(graph, div.Outputs[0]) is not { } mul || !mul.Is("Mul")) return null;
        // The shift is part of the pattern only when it adds a constant (a residual Add after it is not).
        var add = SingleReader(graph, mul.Outputs[0]) is { } a && a.Is("Add") && a.Inputs.Any(i => i != mul.Outputs[0] && graph.TryGetConstant(i) is not null) ? a : null;
        string where = $"{mean} … {mul}";

        if ((graph.GetOpsetVersion("") ?? 1) < 17 && !ContribDomain.IsAsked(arguments))
            return Skip(result, $"{where}: LayerNormalization needs opset 17; the model imports {graph.GetOpsetVersion("")} (not raised; use domain: com.microsoft for ONNX Runtime)");
        if (pow.Is("Pow") && !IsScalar(graph, pow.Inputs[1], 2f)) return Skip(result, $"{where}: the exponent is not 2");
        var axes = StaticShapes.Axes(mean);
        var axes2 = StaticShapes.Axes(variance);
        int? rank = Ranks.Of(graph, x);
        int k = axes is null || axes2 is null ? -1 : TrailingCount(axes, rank);
        if (k <= 0 || TrailingCount(axes2!, rank) != k || mean.GetInt("keepdims", 1) != 1 || variance.GetInt("keepdims", 1) != 1)
            return Skip(result, $"{where}: the ReduceMeans do not both reduce the same last axes with keepdims");
        string epsName = addEps.Inputs[0] == variance.Outputs[0] ? addEps.Inputs[1] : addEps.Inputs[0];
        if (graph.TryGetConstant(epsName) is not { DataType: 1, ElementCount: 1 } eps) return Skip(result, $"{where}: ε is not a float scalar constant");
        var trailing = TrailingDims(graph, x, k);
        string gamma = mul.Inputs[0] == div.Outputs[0] ? mul.Inputs[1] : mul.Inputs[0];
        string? beta = add is null ? null : add.Inputs[0] == mul.Outputs[0] ? add.Inputs[1] : add.Inputs[0];
        if (trailing is null) return Skip(result, $"{where}: the normalized dims of the input are not known statically");
        foreach (var p in beta is null ? [gamma] : new[] { gamma, beta })
            if (graph.TryGetConstant(p) is not { DataType: 1 } c || !c.Dims.SequenceEqual(trailing))
                return Skip(result, $"{where}: '{p}' is not a float constant shaped like the normalized dims [{string.Join(",", trailing)}]");
        Node[] nodes = add is null ? [mean, sub, pow, variance, addEps, sqrt, div, mul] : [mean, sub, pow, variance, addEps, sqrt, div, mul, add];
        for (int i = 0; i < nodes.Length - 1; i++)
            if (graph.MustKeepName(nodes[i].Outputs[0])) return Skip(result, $"{where}: '{nodes[i].Outputs[0]}' is a graph output");
        return new Found(nodes, x, gamma, beta, eps.AsFloat()[0], k, nodes[^1].Outputs[0]);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        var inputs = m.Beta is null ? new[] { m.X, m.Gamma } : [m.X, m.Gamma, m.Beta];
        var node = graph.CreateNode("LayerNormalization", inputs, [m.Output], before: m.Nodes[0]);
        node.Proto.Attribute.Add(new Model.Onnx.AttributeProto { Name = "axis", Type = Model.Onnx.AttributeProto.Types.AttributeType.Int, I = -m.Axes });
        node.Proto.Attribute.Add(new Model.Onnx.AttributeProto { Name = "epsilon", Type = Model.Onnx.AttributeProto.Types.AttributeType.Float, F = m.Epsilon });
        var operands = m.Nodes.SelectMany(n => n.Inputs).Where(i => i != m.X).Distinct().ToArray();
        graph.RemoveNodes(m.Nodes);
        foreach (var name in operands) Weights.RemoveIfUnused(graph, name);
        return true;
    }

    // How many trailing axes the list names (−1, −2, … or rank−1, rank−2, …); −1 when they are not the last ones.
    private static int TrailingCount(long[] axes, int? rank)
    {
        var normalized = new HashSet<long>();
        foreach (var a in axes)
        {
            if (a < 0) normalized.Add(a);
            else if (rank is { } r) normalized.Add(a - r);
            else return -1;
        }
        for (int i = 1; i <= normalized.Count; i++)
            if (!normalized.Contains(-i)) return -1;
        return normalized.Count == axes.Length ? normalized.Count : -1;
    }

    // x's last k dims when they are numbers: from the static shape, or named-dim shapes (leading dims may be symbolic).
    private static long[]? TrailingDims(Graph graph, string x, int k)
    {
        if (StaticShapes.Of(graph, x) is { } shape) return shape.Length >= k ? shape[^k..] : null;
        if (SymbolicShapes.Of(graph, x) is not { } dims || dims.Length < k) return null;
        var result = new long[k];
        for (int i = 0; i < k; i++)
            if (!long.TryParse(dims[dims.Length - k + i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out result[i]))
                return null;
        return result;
    }

    private static bool IsScalar(Graph graph, string name, float value) =>
        graph.TryGetConstant(name) is { ElementCount: 1 } c && (c.DataType == 1 ? c.AsFloat()[0] == value : c.DataType == 7 && c.AsInt64()[0] == (long)value);
}
