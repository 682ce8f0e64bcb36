using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// Shapes whose dims may be named (<c>batch</c>, <c>sequence</c>) rather than numbers, for fusions that only need to
/// know two values have the same shape (SkipLayerNormalization must not absorb a broadcasting Add). Each dim is a
/// number as text ("384"), a graph input's dim_param, or null when unknown; two dims are provably equal only when both
/// are non-null and the same text.
/// </summary>
/// <remarks>
/// Coverage: declared shapes, constants, ops that keep their input's shape (<see cref="SameShape"/>), Add/Sub/Mul/Div
/// (equal dims, or a 1 taking the other), MatMul of rank ≥ 2 operands, Gather on axis 0, Transpose, and Reshape with a
/// constant shape (a 0 copies the input dim, a −1 is unknown). Anything else is unknown (null).
/// </remarks>
public static class SymbolicShapes
{
    private static readonly HashSet<string> SameShape =
        ["Relu", "Sigmoid", "Tanh", "Erf", "Gelu", "Sqrt", "Neg", "Cast", "Softmax", "LayerNormalization", "Identity", "Dropout", "SkipLayerNormalization"];

    /// <summary>The dims of <paramref name="name"/>, or null when not even its rank is known.</summary>
    public static string?[]? Of(Graph graph, string name) => Of(graph, name, 0);

    /// <summary>Whether both values provably have the same shape, dim for dim.</summary>
    public static bool Same(Graph graph, string a, string b) =>
        Of(graph, a) is { } x && Of(graph, b) is { } y && x.Length == y.Length && x.Zip(y).All(p => p.First is not null && p.First == p.Second);

    private static string?[]? Of(Graph graph, string name, int depth)
    {
        if (depth > 256) return null;
        if (Declared(graph, name) is { } declared) return declared;
        if (graph.TryGetConstant(name) is { } constant) return constant.Dims.Select(d => (string?)d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var node = graph.GetProducer(name);
        if (node is null || !Graph.IsDefaultDomain(node.Domain) && node.Domain != "com.microsoft" || node.Outputs[0] != name || node.Inputs.Count == 0) return null;
        if (SameShape.Contains(node.OpType)) return Of(graph, node.Inputs[0], depth + 1);
        switch (node.OpType)
        {
            case "Add" or "Sub" or "Mul" or "Div" when node.Inputs.Count == 2:
                return Broadcast(Of(graph, node.Inputs[0], depth + 1), Of(graph, node.Inputs[1], depth + 1));
            case "MatMul" when Of(graph, node.Inputs[0], depth + 1) is { Length: >= 2 } a && Of(graph, node.Inputs[1], depth + 1) is { Length: >= 2 } b:
                return Broadcast(a[..^2], b[..^2]) is { } batch ? [.. batch, a[^2], b[^1]] : null;
            case "Gather" when node.GetInt("axis", 0) == 0 && Of(graph, node.Inputs[0], depth + 1) is { Length: >= 1 } data && Of(graph, node.Inputs[1], depth + 1) is { } indices:
                return [.. indices, .. data[1..]];
            case "Transpose" when node.GetInts("perm") is { } perm && Of(graph, node.Inputs[0], depth + 1) is { } x && x.Length == perm.Count:
                return perm.Select(p => x[p]).ToArray();
            case "Reshape" when node.Inputs.Count == 2 && node.GetInt("allowzero", 0) == 0 && StaticShapes.ConstantInts(graph, node.Inputs[1]) is { } shape:
                var input = shape.Contains(0) ? Of(graph, node.Inputs[0], depth + 1) : null;
                var result = new string?[shape.Length];
                for (int i = 0; i < shape.Length; i++)
                    result[i] = shape[i] > 0 ? shape[i].ToString(System.Globalization.CultureInfo.InvariantCulture) : shape[i] == 0 && input is not null && i < input.Length ? input[i] : null;
                return result;
        }
        return null;
    }

    // Numpy broadcasting over named dims: equal dims stay, a "1" takes the other; anything else is unknown.
    private static string?[]? Broadcast(string?[]? a, string?[]? b)
    {
        if (a is null || b is null) return null;
        int rank = Math.Max(a.Length, b.Length);
        var result = new string?[rank];
        for (int i = 0; i < rank; i++)
        {
            string? x = i < rank - a.Length ? "1" : a[i - (rank - a.Length)];
            string? y = i < rank - b.Length ? "1" : b[i - (rank - b.Length)];
            result[i] = x == "1" ? y : y == "1" ? x : x is not null && x == y ? x : null;
        }
        return result;
    }

    private static string?[]? Declared(Graph graph, string name)
    {
        for (var g = graph; g is not null; g = g.Parent)
        {
            foreach (var list in new[] { g.Inputs, g.Outputs, g.ValueInfo })
                foreach (var info in list)
                    if (info.Name == name && info.Type?.TensorType?.Shape is { } shape)
                        return shape.Dim.Select(d => d.ValueCase switch
                        {
                            TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
                            TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam when d.DimParam.Length > 0 => "?" + d.DimParam,
                            _ => null,
                        }).ToArray();
            if (g.DefinesLocally(name)) break;
        }
        return null;
    }
}
