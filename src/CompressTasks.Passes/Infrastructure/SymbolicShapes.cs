using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// Shapes whose dims may be named (<c>batch</c>, <c>sequence</c>) rather than numbers, for fusions that only need to
/// know two values have the same shape (SkipLayerNormalization must not absorb a broadcasting Add). Each dim is text:
/// a number ("384"), a declared dim_param ("?batch"), or, where neither is known, a token naming the value and axis it
/// first appears at ("#sum:1", "the runtime size of axis 1 of sum"), which ops that copy the dim carry along. Equal
/// text means provably equal dims; different text proves nothing.
/// </summary>
/// <remarks>
/// Coverage: declared shapes, constants, ops that keep their input's shape (<see cref="SameShape"/>), Add/Sub/Mul/Div
/// (equal dims, or a 1 taking the other), MatMul of rank ≥ 2 operands, ONNX Runtime's Attention, Gather on axis 0, Unsqueeze, Slice (sliced axes become
/// unknown), Transpose, and Reshape with a
/// constant shape (a 0 copies the input dim, a −1 is unknown). Anything else is unknown (null).
/// </remarks>
public static class SymbolicShapes
{
    private static readonly HashSet<string> SameShape =
        ["Relu", "Sigmoid", "Tanh", "Erf", "Gelu", "Sqrt", "Neg", "Cast", "Softmax", "LayerNormalization", "Identity", "Dropout", "SkipLayerNormalization"];

    /// <summary>The dims of <paramref name="name"/>, or null when not even its rank is known.</summary>
    public static string[]? Of(Graph graph, string name) => Of(graph, name, 0, new Dictionary<string, string[]?>(StringComparer.Ordinal));

    /// <summary>Whether both values provably have the same shape, dim for dim.</summary>
    public static bool Same(Graph graph, string a, string b)
    {
        var memo = new Dictionary<string, string[]?>(StringComparer.Ordinal);
        return Of(graph, a, 0, memo) is { } x && Of(graph, b, 0, memo) is { } y && x.AsSpan().SequenceEqual(y);
    }

    // Memoized per query (residual streams reach the same value along many paths); unknown dims become tokens.
    private static string[]? Of(Graph graph, string name, int depth, Dictionary<string, string[]?> memo)
    {
        if (memo.TryGetValue(name, out var known)) return known;
        var dims = depth > 256 ? null : Compute(graph, name, depth, memo);
        var result = dims?.Select((d, i) => d ?? $"#{name}:{i}").ToArray();
        memo[name] = result;
        return result;
    }

    private static string?[]? Compute(Graph graph, string name, int depth, Dictionary<string, string[]?> memo)
    {
        if (Declared(graph, name) is { } declared) return declared;
        if (graph.TryGetConstant(name) is { } constant) return constant.Dims.Select(d => (string?)d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var node = graph.GetProducer(name);
        if (node is null || !Graph.IsDefaultDomain(node.Domain) && node.Domain != "com.microsoft" || node.Outputs[0] != name || node.Inputs.Count == 0) return null;
        if (SameShape.Contains(node.OpType)) return Of(graph, node.Inputs[0], depth + 1, memo);
        switch (node.OpType)
        {
            case "Add" or "Sub" or "Mul" or "Div" when node.Inputs.Count == 2:
                return Broadcast(Of(graph, node.Inputs[0], depth + 1, memo), Of(graph, node.Inputs[1], depth + 1, memo));
            case "MatMul" when Of(graph, node.Inputs[0], depth + 1, memo) is { Length: >= 2 } a && Of(graph, node.Inputs[1], depth + 1, memo) is { Length: >= 2 } b:
                return Broadcast(a[..^2], b[..^2]) is { } batch ? [.. batch, a[^2], b[^1]] : null;
            case "Gather" when node.GetInt("axis", 0) == 0 && Of(graph, node.Inputs[0], depth + 1, memo) is { Length: >= 1 } data && Of(graph, node.Inputs[1], depth + 1, memo) is { } indices:
                return [.. indices, .. data[1..]];
            case "Slice" when Of(graph, node.Inputs[0], depth + 1, memo) is { } sliced:
                // Sliced axes become unknown, the others stay; without known axes every dim is unknown.
                var axes = node.Inputs.Count >= 3 ? (node.Inputs.Count > 3 && node.Inputs[3].Length > 0 ? StaticShapes.ConstantInts(graph, node.Inputs[3])
                        : StaticShapes.ConstantInts(graph, node.Inputs[1]) is { } starts ? Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray() : null)
                    : node.GetInts("axes")?.ToArray() ?? node.GetInts("starts")?.Select((_, i) => (long)i).ToArray();
                var kept = sliced.ToArray<string?>();
                for (int i = 0; i < kept.Length; i++)
                    if (axes is null || axes.Any(a => a == i || a + kept.Length == i)) kept[i] = null;
                return kept;
            case "Unsqueeze" when StaticShapes.Axes(node) is { Length: > 0 } added && Of(graph, node.Inputs[0], depth + 1, memo) is { } inner:
                int rank = inner.Length + added.Length;
                var inserted = added.Select(a => a < 0 ? a + rank : a).ToHashSet();
                var unsqueezed = new string?[rank];
                for (int i = 0, j = 0; i < rank; i++) unsqueezed[i] = inserted.Contains(i) ? "1" : j < inner.Length ? inner[j++] : null;
                return unsqueezed;
            case "Transpose" when node.GetInts("perm") is { } perm && Of(graph, node.Inputs[0], depth + 1, memo) is { } x && x.Length == perm.Count:
                return perm.Select(p => (string?)x[p]).ToArray();
            case "Attention" when node.Domain == "com.microsoft" && node.Inputs.Count >= 2 && Of(graph, node.Inputs[0], depth + 1, memo) is { Length: 3 } x3
                && Of(graph, node.Inputs[1], depth + 1, memo) is [_, var joined] && long.TryParse(joined, out long qkv):
                // ONNX Runtime's Attention: [B, S, v_hidden], where the joined weights are [Hin, H + H + v_hidden].
                long vHidden = node.GetInts("qkv_hidden_sizes") is { Count: 3 } sizes ? sizes[2] : qkv / 3;
                return [x3[0], x3[1], vHidden.ToString(System.Globalization.CultureInfo.InvariantCulture)];
            case "Reshape" when node.Inputs.Count == 2 && node.GetInt("allowzero", 0) == 0 && StaticShapes.ConstantInts(graph, node.Inputs[1]) is { } shape:
                var input = shape.Contains(0) ? Of(graph, node.Inputs[0], depth + 1, memo) : null;
                var result = new string?[shape.Length];
                for (int i = 0; i < shape.Length; i++)
                    result[i] = shape[i] > 0 ? shape[i].ToString(System.Globalization.CultureInfo.InvariantCulture) : shape[i] == 0 && input is not null && i < input.Length ? input[i] : null;
                return result;
        }
        return null;
    }

    // Numpy broadcasting over named dims: equal dims stay, a "1" takes the other; anything else is unknown.
    private static string?[]? Broadcast(string[]? a, string[]? b)
    {
        if (a is null || b is null) return null;
        int rank = Math.Max(a.Length, b.Length);
        var result = new string?[rank];
        for (int i = 0; i < rank; i++)
        {
            string x = i < rank - a.Length ? "1" : a[i - (rank - a.Length)];
            string y = i < rank - b.Length ? "1" : b[i - (rank - b.Length)];
            result[i] = x == "1" ? y : y == "1" ? x : x == y ? x : null;
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
