using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Folds the activation that follows a Conv into ONNX Runtime's com.microsoft FusedConv, for models run only by ONNX
/// Runtime.
/// </summary>
/// <remarks>
/// <code>
///   y = Relu(Conv(x, W, B; attrs))      ⇒      y = com.microsoft.FusedConv(x, W, B; attrs, activation = "Relu")
///   y = Clip(Conv(…), lo, hi)           ⇒      FusedConv(…; activation = "Clip", activation_params = [lo, hi])
/// </code>
/// Activations: Relu, Sigmoid, Tanh, LeakyRelu (params [alpha]), Clip (params [min, max], from attributes before
/// opset 11 and constant scalar inputs after; an absent bound is ±float.MaxValue) and HardSigmoid (params [alpha, beta]).
/// Preconditions, each failure a skip with its reason: <c>domain: com.microsoft</c> is asked for (FusedConv exists
/// nowhere else; the default <c>standard</c> only reports matches); the Conv is float32 and its output is read only by
/// the activation and is not a graph output; Clip's bounds are constants. y keeps its name; all Conv attributes are
/// kept; the com.microsoft opset is imported if missing.
/// </remarks>
public sealed class FuseConvActivation : PatternPass<FuseConvActivation.Found>
{
    public sealed record Found(Node Conv, Node Activation, float[] Parameters);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-conv-activation", PassKind.Fusion,
        "Folds Relu/Sigmoid/Tanh/LeakyRelu/Clip/HardSigmoid after a Conv into ONNX Runtime's com.microsoft FusedConv (only when asked: domain: com.microsoft).",
        [ContribDomain.Parameter()],
        "- fuse-conv-activation: { domain: com.microsoft }");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Conv" };

    private static readonly HashSet<string> Activations = ["Relu", "Sigmoid", "Tanh", "LeakyRelu", "Clip", "HardSigmoid"];

    protected override Found? Match(Node conv, PassArguments arguments, PassResult result)
    {
        var graph = conv.Graph!;
        var readers = graph.GetConsumers(conv.Outputs[0]);
        if (readers.Count != 1 || readers[0].Node is not { } act || act.Graph != graph || !Graph.IsDefaultDomain(act.Domain) || !Activations.Contains(act.OpType)
            || act.Inputs[0] != conv.Outputs[0]) return null;
        string where = $"{conv} → {act}";
        if (!ContribDomain.IsAsked(arguments)) return Skip(result, ContribDomain.NotAsked(where, "FusedConv"));
        if (graph.MustKeepName(conv.Outputs[0])) return Skip(result, $"{where}: '{conv.Outputs[0]}' is a graph output");
        if (StaticShapes.ElementType(graph, conv.Inputs[1]) is not 1) return Skip(result, $"{where}: FusedConv runs float32 only");
        float[]? parameters = act.OpType switch
        {
            "LeakyRelu" => [act.GetFloat("alpha", 0.01f)],
            "HardSigmoid" => [act.GetFloat("alpha", 0.2f), act.GetFloat("beta", 0.5f)],
            "Clip" => ClipBounds(graph, act),
            _ => [],
        };
        if (parameters is null) return Skip(result, $"{where}: Clip's bounds are not constant scalars");
        return new Found(conv, act, parameters);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        ContribDomain.Import(graph);
        var node = graph.CreateNode("FusedConv", m.Conv.Inputs, [m.Activation.Outputs[0]], before: m.Conv, domain: ContribDomain.Name);
        node.Proto.Attribute.AddRange(m.Conv.Proto.Attribute.Select(a => a.Clone()));
        node.Proto.Attribute.Add(new Model.Onnx.AttributeProto
            { Name = "activation", Type = Model.Onnx.AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(m.Activation.OpType) });
        if (m.Parameters.Length > 0)
        {
            var p = new Model.Onnx.AttributeProto { Name = "activation_params", Type = Model.Onnx.AttributeProto.Types.AttributeType.Floats };
            p.Floats.AddRange(m.Parameters);
            node.Proto.Attribute.Add(p);
        }
        var operands = m.Activation.Inputs.Skip(1).Where(i => i.Length > 0).ToArray();
        graph.RemoveNodes([m.Conv, m.Activation]);
        foreach (var name in operands) Weights.RemoveIfUnused(graph, name);
        return true;
    }

    // [min, max] of a Clip: attributes before opset 11, optional constant scalar inputs after.
    private static float[]? ClipBounds(Graph graph, Node clip)
    {
        if (clip.Inputs.Count == 1) return [clip.GetFloat("min", float.MinValue), clip.GetFloat("max", float.MaxValue)];
        var bounds = new[] { float.MinValue, float.MaxValue };
        for (int i = 1; i < clip.Inputs.Count && i <= 2; i++)
        {
            if (clip.Inputs[i].Length == 0) continue;
            if (graph.TryGetConstant(clip.Inputs[i]) is not { DataType: 1, ElementCount: 1 } c) return null;
            bounds[i - 1] = c.AsFloat()[0];
        }
        return bounds;
    }
}
