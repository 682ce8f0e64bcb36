using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Replaces a residual Add followed by LayerNormalization (a transformer's "add &amp; norm") by ONNX Runtime's
/// com.microsoft SkipLayerNormalization, for models run only by ONNX Runtime.
/// </summary>
/// <remarks>
/// <code>
///   s = Add(Add(x, bias), skip)   y = LayerNormalization(s, γ, β; axis = −1, ε)
///                        ⇒      y[, s] = com.microsoft.SkipLayerNormalization(x, skip, γ, β, bias; ε)
/// </code>
/// The bias Add is optional (then there is no bias input). Run after <c>fuse-layernorm</c>, which makes the
/// LayerNormalization. Preconditions, each failure a skip with its reason: <c>domain: com.microsoft</c> is asked for
/// (the op exists nowhere else; the default <c>standard</c> only reports the matches); LayerNormalization normalizes
/// the last axis only and its Mean/InvStdDev outputs are unused; x and skip are rank 3 and provably the same shape
/// (<see cref="SymbolicShapes"/>: named dims count, so a broadcasting Add is never absorbed); γ, β and the bias are
/// 1-D float constants of the hidden size; the bias Add is read only by the residual Add and is not a graph output.
/// When the sum s is read elsewhere too (or is a graph output) it becomes the op's fourth output
/// (input_skip_bias_sum) under its own name. y keeps its name; the com.microsoft opset is imported if missing.
/// </remarks>
public sealed class FuseSkipLayerNorm : PatternPass<FuseSkipLayerNorm.Found>
{
    public sealed record Found(Node Add, Node? BiasAdd, Node Norm, string Input, string Skip, string? Bias, bool KeepSum);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-skip-layernorm", PassKind.Fusion,
        "Replaces Add(x, skip[, bias]) → LayerNormalization by ONNX Runtime's com.microsoft SkipLayerNormalization (only when asked: domain: com.microsoft).",
        [ContribDomain.Parameter()],
        "- fuse-skip-layernorm: { domain: com.microsoft }");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "LayerNormalization" };

    protected override Found? Match(Node norm, PassArguments arguments, PassResult result)
    {
        var graph = norm.Graph!;
        if (norm.Inputs.Count < 2 || graph.GetProducer(norm.Inputs[0]) is not { } add || !add.Is("Add") || add.Inputs.Count != 2 || add.Graph != graph) return null;
        string where = $"{add} → {norm}";
        if (!ContribDomain.IsAsked(arguments)) return Skip(result, ContribDomain.NotAsked(where, "SkipLayerNormalization"));
        if (norm.Outputs.Skip(1).Any(o => o.Length > 0 && (graph.UseCount(o) > 0 || graph.MustKeepName(o))))
            return Skip(result, $"{where}: the LayerNormalization's Mean/InvStdDev outputs are used");
        int? rank = Ranks.Of(graph, add.Outputs[0]) ?? SymbolicShapes.Of(graph, add.Outputs[0])?.Length;
        long axis = norm.GetInt("axis", -1);
        if (rank != 3 || axis is not (-1 or 2)) return Skip(result, $"{where}: not a rank-3 input normalized over its last axis");

        // The bias: one operand of the residual Add may itself be Add(x, 1-D constant) read only here.
        string input = add.Inputs[0], skip = add.Inputs[1];
        Node? biasAdd = null;
        string? bias = null;
        foreach (var (first, second) in new[] { (add.Inputs[0], add.Inputs[1]), (add.Inputs[1], add.Inputs[0]) })
        {
            if (graph.GetProducer(first) is { } inner && inner.Is("Add") && inner.Inputs.Count == 2 && inner.Graph == graph
                && graph.UseCount(first) == 1 && !graph.MustKeepName(first)
                && inner.Inputs.FirstOrDefault(i => graph.TryGetConstant(i) is { DataType: 1, Dims.Count: 1 }) is { } b)
            {
                (biasAdd, bias, input, skip) = (inner, b, inner.Inputs[0] == b ? inner.Inputs[1] : inner.Inputs[0], second);
                break;
            }
        }
        if (!SymbolicShapes.Same(graph, input, skip) && biasAdd is not null)
            (biasAdd, bias, input, skip) = (null, null, add.Inputs[0], add.Inputs[1]);
        if (SymbolicShapes.Of(graph, input) is not { Length: 3 } shape || !SymbolicShapes.Same(graph, input, skip))
            return Skip(result, $"{where}: '{input}' and '{skip}' are not provably rank 3 with the same shape (the Add may broadcast)");
        if (!long.TryParse(shape[2], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long hidden))
            return Skip(result, $"{where}: the hidden size is not known");
        foreach (var p in new[] { norm.Inputs[1], norm.Inputs.Count > 2 ? norm.Inputs[2] : null, bias })
            if (p is { Length: > 0 } && (graph.TryGetConstant(p) is not { DataType: 1 } c || c.Dims.Count != 1 || c.Dims[0] != hidden))
                return Skip(result, $"{where}: '{p}' is not a 1-D float constant of the hidden size {hidden}");
        if (StaticShapes.ElementType(graph, input) is not (null or 1)) return Skip(result, $"{where}: not float32");
        bool keepSum = graph.UseCount(add.Outputs[0]) > 1 || graph.MustKeepName(add.Outputs[0]);
        return new Found(add, biasAdd, norm, input, skip, bias, keepSum);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        ContribDomain.Import(graph);
        string beta = m.Norm.Inputs.Count > 2 ? m.Norm.Inputs[2] : "";
        var inputs = new List<string> { m.Input, m.Skip, m.Norm.Inputs[1], beta };
        if (m.Bias is not null) inputs.Add(m.Bias);
        while (inputs[^1].Length == 0) inputs.RemoveAt(inputs.Count - 1);
        string sum = m.Add.Outputs[0];
        var outputs = m.KeepSum ? new[] { m.Norm.Outputs[0], "", "", sum } : [m.Norm.Outputs[0]];
        float epsilon = m.Norm.GetFloat("epsilon", 1e-5f);
        // At the residual Add's place: x and skip are defined before it (it read them), and every reader of s or y after.
        var node = graph.CreateNode("SkipLayerNormalization", inputs, outputs, before: m.Add, domain: ContribDomain.Name);
        node.Proto.Attribute.Add(new Model.Onnx.AttributeProto { Name = "epsilon", Type = Model.Onnx.AttributeProto.Types.AttributeType.Float, F = epsilon });
        graph.RemoveNodes(m.BiasAdd is null ? [m.Add, m.Norm] : [m.BiasAdd, m.Add, m.Norm]);
        return true;
    }
}
