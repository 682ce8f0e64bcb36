using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Folding;

/// <summary>
/// Turns <c>Constant</c> nodes into initializers of the graph they live in.
/// </summary>
/// <remarks>
/// <code>
///   Constant(value = T) ─▶ c ─▶ readers      ⇒      initializer c' = T ─▶ readers
/// </code>
/// Exporters such as Paddle2ONNX put every weight in a Constant node; as initializers they are no longer nodes the
/// runtime must schedule and later passes (deduplication, quantization) see them as ordinary weights. Readers are
/// rewired to the initializer (subgraph readers too); a Constant whose output is a graph output keeps its node so
/// the output name stays, and sparse_value Constants are left alone.
/// </remarks>
public sealed class LiftConstants : PatternPass<Constant>
{
    public override PassDescriptor Descriptor { get; } = new(
        "lift-constants", PassKind.Folding,
        "Turns Constant nodes into initializers (exporters such as Paddle2ONNX keep every weight in one).");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Constant" };

    protected override Constant? Match(Node node, PassArguments arguments, PassResult result)
    {
        if (node.Outputs.Count != 1) return null;
        var graph = node.Graph!;
        if (graph.MustKeepName(node.Outputs[0]))
        {
            result.Skip($"{node}: its output is a graph output");
            return null;
        }
        var constant = graph.TryGetConstant(node.Outputs[0]);
        if (constant is null || constant.Node != node)
        {
            result.Skip($"{node}: its value is not a dense tensor (sparse_value)");
            return null;
        }
        return constant;
    }

    protected override bool Rewrite(Graph graph, Constant constant, PassArguments arguments, PassResult result)
    {
        var tensor = constant.Tensor;
        string name = constant.Name;
        var lifted = tensor.DataType == (int)Model.Onnx.TensorProto.Types.DataType.String
            ? null
            : Weights.Add(graph, name, tensor.DataType, tensor.Dims.ToArray(), constant.GetBytes());
        if (lifted is null)
        {
            result.Skip($"{constant.Node}: string constants stay nodes");
            return false;
        }
        graph.RemoveNode(constant.Node!);
        graph.ReplaceAllUses(name, lifted.Name);
        return true;
    }
}
