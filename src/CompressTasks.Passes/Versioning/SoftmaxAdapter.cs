using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;
using static CompressTasks.Passes.Versioning.AdapterEdits;

namespace CompressTasks.Passes.Versioning;

/// <summary>
/// Softmax, LogSoftmax and Hardmax across opset 13. Before 13 the op coerced its input to 2-D at <c>axis</c>
/// (default 1) and normalized each row: over all dimensions from <c>axis</c> on. From 13 it normalizes along the
/// one dimension <c>axis</c> (default −1).
/// <code>
///   x ─Softmax(axis=a)─▶ y        (opset &lt; 13; the two agree when a is the last axis: then only axis is set)
///     ⇒
///   x ─Flatten(axis=a)─▶ x2d ─Softmax(axis=1)─▶ y2d ─Reshape(Shape(x))─▶ y
/// </code>
/// </summary>
internal static class SoftmaxAdapter
{
    public static void Apply(Node node, ElementTypes types)
    {
        var graph = node.Graph!;
        long axis = node.GetInt("axis", 1);
        int rank = ElementTypes.DeclaredRank(graph, node.Inputs[0]);
        if (rank > 0 && (axis < 0 ? axis + rank : axis) == rank - 1)
        {
            SetInt(node, "axis", rank - 1);
            return;
        }

        string x = node.Inputs[0], y = node.Outputs[0];
        string stem = node.Name.Length > 0 ? node.Name : node.OpType;
        string x2d = graph.FreshName(stem + "_2d"), y2d = graph.FreshName(stem + "_2d_out"), shape = graph.FreshName(stem + "_shape");
        var flatten = graph.CreateNode("Flatten", [x], [x2d], before: node);
        SetInt(flatten, "axis", axis);
        graph.CreateNode("Shape", [x], [shape], before: node);
        node.SetInput(0, x2d);
        node.SetOutput(0, y2d);
        SetInt(node, "axis", 1);
        graph.InsertAfter(node, new Model.Onnx.NodeProto { OpType = "Reshape", Name = graph.FreshName(stem + "_Reshape"), Input = { y2d, shape }, Output = { y } });
    }
}
