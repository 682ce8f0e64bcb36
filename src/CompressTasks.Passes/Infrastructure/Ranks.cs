using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// The rank of a value when it can be known without full shape inference: declared shapes (graph inputs,
/// outputs, value_info), constants, and ops whose output rank follows from their inputs' ranks or constant
/// operands (elementwise and broadcasting ops, Conv and pooling, Reshape with a constant shape, Transpose, Flatten,
/// Squeeze/Unsqueeze with known axes, Gemm, MatMul, Gather, Slice, reductions that keep dims), even when the dims themselves are symbolic.
/// </summary>
public static class Ranks
{
    private static readonly HashSet<string> SameRankAsInput =
        [
            "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "HardSigmoid", "HardSwish", "Softplus", "Softmax", "LogSoftmax", "Dropout", "Identity", "Cast", "Clip",
            "Erf", "Neg", "Abs", "Sqrt", "Exp", "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization",
            "InstanceNormalization", "LayerNormalization", "PRelu", "Gelu",
        ];

    private static readonly HashSet<string> Broadcasting = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Where"];

    /// <summary>The rank of <paramref name="name"/> in <paramref name="graph"/>, or null when unknown.</summary>
    public static int? Of(Graph graph, string name) => Of(graph, name, 0, new Dictionary<string, int?>(StringComparer.Ordinal));

    // Memoized per query: residual and squeeze-excite blocks reach the same value along many paths.
    private static int? Of(Graph graph, string name, int depth, Dictionary<string, int?> memo)
    {
        if (memo.TryGetValue(name, out var known)) return known;
        var rank = depth > 1024 ? null : Compute(graph, name, depth, memo);
        memo[name] = rank;
        return rank;
    }

    private static int? Compute(Graph graph, string name, int depth, Dictionary<string, int?> memo)
    {
        if (Declared(graph, name) is { } declared) return declared;
        if (graph.TryGetConstant(name) is { } constant) return constant.Dims.Count;
        var producer = graph.GetProducer(name);
        if (producer is null || !Graph.IsDefaultDomain(producer.Domain)) return null;
        if (producer.OpType == "Gemm") return 2;
        if (SameRankAsInput.Contains(producer.OpType) && producer.Outputs[0] == name) return Of(graph, producer.Inputs[0], depth + 1, memo);
        if (producer.OpType is "MatMul")
        {
            // numpy matmul: a 1-D operand loses its dim, the rest broadcast over the leading (batch) dims.
            if (Of(graph, producer.Inputs[0], depth + 1, memo) is not { } a || Of(graph, producer.Inputs[1], depth + 1, memo) is not { } b || a == 0 || b == 0) return null;
            return a == 1 && b == 1 ? 0 : a == 1 ? b - 1 : b == 1 ? a - 1 : Math.Max(a, b);
        }
        if (producer.Outputs[0] != name) return null;
        switch (producer.OpType)
        {
            case "Reshape" when producer.Inputs.Count > 1 && graph.TryGetConstant(producer.Inputs[1]) is { Dims.Count: 1 } shape:
                return (int)shape.Dims[0];
            case "Flatten":
                return 2;
            case "Transpose" when producer.GetInts("perm") is { } perm:
                return perm.Count;
            case "Unsqueeze" when StaticShapes.Axes(producer) is { Length: > 0 } axes && Of(graph, producer.Inputs[0], depth + 1, memo) is { } r:
                return r + axes.Length;
            case "Squeeze" when StaticShapes.Axes(producer) is { Length: > 0 } axes && Of(graph, producer.Inputs[0], depth + 1, memo) is { } r:
                return r - axes.Length;
            case "Slice":
                return Of(graph, producer.Inputs[0], depth + 1, memo);
            case "Gather" when Of(graph, producer.Inputs[0], depth + 1, memo) is { } data && Of(graph, producer.Inputs[1], depth + 1, memo) is { } indices:
                return data + indices - 1;
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceMin" or "ReduceProd" when producer.GetInt("keepdims", 1) == 1:
                return Of(graph, producer.Inputs[0], depth + 1, memo);
        }
        if (Broadcasting.Contains(producer.OpType))
        {
            int rank = 0;
            foreach (var input in producer.Inputs)
            {
                if (Of(graph, input, depth + 1, memo) is not { } r) return null;
                rank = Math.Max(rank, r);
            }
            return rank;
        }
        return StaticShapes.Of(graph, name)?.Length;
    }

    private static int? Declared(Graph graph, string name)
    {
        for (var g = graph; g is not null; g = g.Parent)
        {
            foreach (var list in new[] { g.Inputs, g.Outputs, g.ValueInfo })
                foreach (var info in list)
                    if (info.Name == name && info.Type?.TensorType?.Shape is { } shape) return shape.Dim.Count;
            if (g.DefinesLocally(name)) break;
        }
        return null;
    }
}
