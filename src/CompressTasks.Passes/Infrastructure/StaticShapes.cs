using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// Static shapes and element types of values, as far as the graph proves them without running it: a small
/// forward shape inference that passes use to show a node is a no-op or a pattern is legal.
/// </summary>
/// <remarks>
/// Coverage. Declared shapes (graph inputs, outputs, value_info, searching outwards) count when every dim is a number;
/// constants have their dims. Propagated through: elementwise unary ops (<see cref="SameShape"/>), broadcasting
/// binary and variadic ops (Add … Where), Transpose, Reshape and Expand with a constant shape, Flatten, Squeeze and
/// Unsqueeze (axes as attribute or constant input), Concat, Gemm, MatMul (rank ≥ 2), Shape, and Conv/MaxPool/
/// AveragePool with explicit pads (auto_pad NOTSET or VALID). Anything else (and any symbolic dim) is unknown: null.
/// Each query memoizes within itself only, so it is always consistent with the graph as it is now.
/// </remarks>
public sealed class StaticShapes
{
    private static readonly HashSet<string> SameShape =
    [
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Elu", "Selu", "Celu", "HardSigmoid", "HardSwish", "Softplus", "Softsign",
        "Softmax", "LogSoftmax", "Identity", "Dropout", "Cast", "CastLike", "Clip", "Erf", "Neg", "Abs", "Sqrt", "Exp", "Log",
        "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Not", "BatchNormalization", "InstanceNormalization", "LayerNormalization",
        "LRN", "Sin", "Cos", "Gelu", "PRelu", "IsNaN", "IsInf", "ThresholdedRelu", "Mish", "Shrink",
    ];

    private static readonly HashSet<string> Broadcasting =
        ["Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where", "BitShift"];

    private readonly Graph _graph;
    private readonly Dictionary<string, long[]?> _memo = new(StringComparer.Ordinal);

    private StaticShapes(Graph graph) => _graph = graph;

    /// <summary>The static shape of <paramref name="name"/> as seen from <paramref name="graph"/>, or null when unknown.</summary>
    public static long[]? Of(Graph graph, string name) => new StaticShapes(graph).Shape(name, 0);

    /// <summary>
    /// The element type (TensorProto data type) of <paramref name="name"/>: declared, a constant's, a Cast's target,
    /// or that of the first input of a type-preserving op; null when unknown.
    /// </summary>
    public static int? ElementType(Graph graph, string name, int depth = 0)
    {
        if (depth > 64 || name.Length == 0) return null;
        if (Declared(graph, name) is { Type.TensorType: { ElemType: > 0 } t }) return t.ElemType;
        if (graph.TryGetConstant(name) is { } c) return c.DataType;
        var node = graph.GetProducer(name);
        if (node is null || !Graph.IsDefaultDomain(node.Domain) || node.Outputs[0] != name || node.Inputs.Count == 0) return null;
        if (node.OpType == "Cast") return (int)node.GetInt("to", 0);
        if (node.OpType == "CastLike") return node.Inputs.Count > 1 ? ElementType(graph, node.Inputs[1], depth + 1) : null;
        if (node.OpType is "Shape" or "Size") return (int)TensorProto.Types.DataType.Int64;
        if (node.OpType is "Equal" or "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "And" or "Or" or "Xor" or "Not" or "IsNaN" or "IsInf")
            return (int)TensorProto.Types.DataType.Bool;
        if (node.OpType == "Where" && node.Inputs.Count == 3) return ElementType(graph, node.Inputs[1], depth + 1);
        if (SameShape.Contains(node.OpType) || Broadcasting.Contains(node.OpType) || node.OpType is "Transpose" or "Reshape" or "Flatten"
            or "Squeeze" or "Unsqueeze" or "Expand" or "Concat" or "Slice" or "Pad" or "Gemm" or "MatMul" or "Conv" or "MaxPool" or "AveragePool" or "Gather")
            return ElementType(graph, node.Inputs[0], depth + 1);
        return null;
    }

    /// <summary>Numpy-style multidirectional broadcasting of two static shapes; null when they do not broadcast.</summary>
    public static long[]? Broadcast(long[] a, long[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new long[rank];
        for (int i = 0; i < rank; i++)
        {
            long x = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            long y = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (x != y && x != 1 && y != 1) return null;
            result[i] = x == 1 ? y : x;
        }
        return result;
    }

    /// <summary>The constant int64 (or int32) values of <paramref name="name"/>, or null.</summary>
    public static long[]? ConstantInts(Graph graph, string name)
    {
        if (graph.TryGetConstant(name) is not { } c) return null;
        if (c.DataType == (int)TensorProto.Types.DataType.Int64) return c.AsInt64().ToArray();
        if (c.DataType == (int)TensorProto.Types.DataType.Int32)
        {
            var ints = c.AsInt32();
            var result = new long[ints.Length];
            for (int i = 0; i < ints.Length; i++) result[i] = ints[i];
            return result;
        }
        return null;
    }

    /// <summary>The axes of a Squeeze/Unsqueeze/Reduce node: the attribute (older opsets) or the constant second input; null when computed.</summary>
    public static long[]? Axes(Node node, int inputIndex = 1)
    {
        if (node.GetInts("axes") is { } attribute) return [.. attribute];
        if (node.Inputs.Count > inputIndex && node.Inputs[inputIndex].Length > 0) return ConstantInts(node.Graph!, node.Inputs[inputIndex]);
        return [];
    }

    private long[]? Shape(string name, int depth)
    {
        if (name.Length == 0 || depth > 600) return null;
        if (_memo.TryGetValue(name, out var known)) return known;
        var shape = Compute(name, depth);
        _memo[name] = shape;
        return shape;
    }

    private long[]? Compute(string name, int depth)
    {
        if (Declared(_graph, name)?.Type?.TensorType?.Shape is { } declared && declared.Dim.All(d => d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue))
            return [.. declared.Dim.Select(d => d.DimValue)];
        if (_graph.TryGetConstant(name) is { } constant) return [.. constant.Dims];
        var node = _graph.GetProducer(name);
        if (node is null || !Graph.IsDefaultDomain(node.Domain) || node.Inputs.Count == 0) return null;
        if (node.Outputs[0] != name) return null;
        long[]? Input(int i) => i < node.Inputs.Count ? Shape(node.Inputs[i], depth + 1) : null;
        var op = node.OpType;
        if (SameShape.Contains(op)) return Input(0);
        if (Broadcasting.Contains(op))
        {
            var result = Input(0);
            for (int i = 1; i < node.Inputs.Count && result is not null; i++)
                result = Input(i) is { } next ? Broadcast(result, next) : null;
            return result;
        }
        var x = Input(0);
        return op switch
        {
            "Shape" when x is not null && node.FindAttribute("start") is null && node.FindAttribute("end") is null => [x.Length],
            "Transpose" when x is not null => Permute(x, node.GetInts("perm")),
            "Reshape" when x is not null && ConstantInts(_graph, node.Inputs[1]) is { } target => ShapeMath.Reshape(x, target, node.GetInt("allowzero", 0) != 0),
            "Expand" when x is not null && ConstantInts(_graph, node.Inputs[1]) is { } target => Broadcast(x, target),
            "Flatten" when x is not null => ShapeMath.Flatten(x, node.GetInt("axis", 1)),
            "Squeeze" when x is not null && Axes(node) is { } axes => ShapeMath.Squeeze(x, axes),
            "Unsqueeze" when x is not null && Axes(node) is { } axes => ShapeMath.Unsqueeze(x, axes),
            "Concat" => ConcatShape(node, depth),
            "Gemm" when x is not null && Input(1) is { } b && x.Length == 2 && b.Length == 2 =>
                [node.GetInt("transA", 0) != 0 ? x[1] : x[0], node.GetInt("transB", 0) != 0 ? b[0] : b[1]],
            "MatMul" when x is not null && Input(1) is { } b && x.Length >= 2 && b.Length >= 2 && Broadcast(x[..^2], b[..^2]) is { } batch =>
                [.. batch, x[^2], b[^1]],
            "Conv" or "MaxPool" or "AveragePool" when x is not null => ShapeMath.Window(node, x, op == "Conv" ? Input(1) : null),
            "GlobalAveragePool" or "GlobalMaxPool" when x is not null && x.Length >= 2 => [x[0], x[1], .. Enumerable.Repeat(1L, x.Length - 2)],
            _ => null,
        };
    }

    private long[]? ConcatShape(Node node, int depth)
    {
        long[]? result = null;
        long sum = 0;
        foreach (var input in node.Inputs)
        {
            if (Shape(input, depth + 1) is not { } s) return null;
            result ??= s;
            int axis = (int)(node.GetInt("axis", 0) < 0 ? node.GetInt("axis", 0) + s.Length : node.GetInt("axis", 0));
            if (s.Length != result.Length || axis < 0 || axis >= s.Length) return null;
            sum += s[axis];
        }
        if (result is null) return null;
        var output = (long[])result.Clone();
        long a = node.GetInt("axis", 0);
        output[a < 0 ? a + output.Length : a] = sum;
        return output;
    }

    private static long[]? Permute(long[] x, IReadOnlyList<long>? perm)
    {
        if (perm is null) return [.. x.Reverse()];
        if (perm.Count != x.Length) return null;
        var result = new long[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            if (perm[i] < 0 || perm[i] >= x.Length) return null;
            result[i] = x[perm[i]];
        }
        return result;
    }

    private static ValueInfoProto? Declared(Graph graph, string name)
    {
        for (var g = graph; g is not null; g = g.Parent)
        {
            foreach (var list in new[] { g.Inputs, g.Outputs, g.ValueInfo })
                foreach (var info in list)
                    if (info.Name == name) return info;
            if (g.DefinesLocally(name)) break;
        }
        return null;
    }
}
