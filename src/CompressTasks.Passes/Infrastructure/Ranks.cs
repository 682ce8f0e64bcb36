using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// The rank of a value when it can be known without full shape inference: declared shapes (graph inputs,
/// outputs, value_info), constants, and a few ops whose output rank follows from their inputs.
/// </summary>
public static class Ranks
{
    private static readonly HashSet<string> SameRankAsInput =
        ["Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "HardSigmoid", "Softplus", "Softmax", "LogSoftmax", "Dropout", "Identity", "Cast", "Clip", "Erf", "Neg", "Abs", "Sqrt", "Exp"];

    /// <summary>The rank of <paramref name="name"/> in <paramref name="graph"/>, or null when unknown.</summary>
    public static int? Of(Graph graph, string name, int depth = 0)
    {
        if (depth > 64) return null;
        if (Declared(graph, name) is { } declared) return declared;
        if (graph.TryGetConstant(name) is { } constant) return constant.Dims.Count;
        var producer = graph.GetProducer(name);
        if (producer is null || !Graph.IsDefaultDomain(producer.Domain)) return null;
        if (producer.OpType == "Gemm") return 2;
        if (SameRankAsInput.Contains(producer.OpType) && producer.Outputs[0] == name) return Of(graph, producer.Inputs[0], depth + 1);
        if (producer.OpType is "MatMul" && Of(graph, producer.Inputs[0], depth + 1) == 2 && Of(graph, producer.Inputs[1], depth + 1) == 2) return 2;
        return null;
    }

    private static int? Declared(Graph graph, string name)
    {
        for (var g = graph; g is not null; g = g.Parent)
        {
            foreach (var list in new[] { g.Inputs, g.Outputs, g.ValueInfo })
                foreach (var info in list)
                    if (info.Name == name && info.Type?.TensorType?.Shape is { } shape) return shape.Dim.Count;
        }
        return null;
    }
}
