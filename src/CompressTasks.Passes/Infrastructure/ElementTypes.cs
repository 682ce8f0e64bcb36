using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// The element type of a value, from what the model declares (graph inputs and outputs, value_info, constants)
/// or, failing that, by following producers back with per-op rules: most operators return the type of their
/// first input; the exceptions are listed below. Returns 0 (UNDEFINED) when it cannot tell, so callers refuse
/// rather than guess. A tiny forward type inference, not ONNX's shape inference: enough for adapters and casts.
/// </summary>
public sealed class ElementTypes
{
    private const int Float = 1, Uint8 = 2, Int32 = 6, Int64 = 7, Bool = 9;

    // Ops whose outputs always have one fixed type.
    private static readonly Dictionary<string, int> Fixed = new(StringComparer.Ordinal)
    {
        ["Shape"] = Int64, ["Size"] = Int64, ["NonZero"] = Int64, ["ArgMax"] = Int64, ["ArgMin"] = Int64,
        ["NonMaxSuppression"] = Int64, ["Equal"] = Bool, ["Less"] = Bool, ["Greater"] = Bool, ["LessOrEqual"] = Bool,
        ["GreaterOrEqual"] = Bool, ["And"] = Bool, ["Or"] = Bool, ["Xor"] = Bool, ["Not"] = Bool, ["IsNaN"] = Bool,
        ["IsInf"] = Bool, ["MatMulInteger"] = Int32, ["ConvInteger"] = Int32, ["DequantizeLinear"] = Float,
        ["OptionalHasElement"] = Bool, ["StringNormalizer"] = 8,
    };

    private readonly Dictionary<(Graph, string), int> _known = new();

    /// <summary>The element type of <paramref name="name"/> as seen from <paramref name="graph"/>; 0 when unknown.</summary>
    public int Get(Graph graph, string name) => Get(graph, name, 0);

    /// <summary>Records a type a pass has decided (e.g. after converting a value).</summary>
    public void Set(Graph graph, string name, int type) => _known[(graph.Resolve(name) ?? graph, name)] = type;

    /// <summary>The rank declared for <paramref name="name"/> in graph inputs, outputs or value_info; -1 when not declared.</summary>
    public static int DeclaredRank(Graph graph, string name)
    {
        for (var g = graph; g is not null; g = g.Parent)
            if (Declared(g, name) is { TensorType.Shape: { } shape }) return shape.Dim.Count;
        return -1;
    }

    private int Get(Graph graph, string name, int depth)
    {
        if (name.Length == 0) return 0;
        var owner = graph.Resolve(name) ?? graph;
        if (_known.TryGetValue((owner, name), out var cached)) return cached;
        int type = depth > 2000 ? 0 : Infer(owner, name, depth);
        if (type != 0) _known[(owner, name)] = type;
        return type;
    }

    private int Infer(Graph g, string name, int depth)
    {
        if (Declared(g, name) is { TensorType.ElemType: > 0 } declared) return declared.TensorType.ElemType;
        if (g.GetInitializer(name) is { } init) return init.DataType;
        if (g.GetProducer(name) is not { } node) return 0;
        if (!Graph.IsDefaultDomain(node.Domain)) return 0;
        int output = IndexOf(node.Outputs, name);
        if (Fixed.TryGetValue(node.OpType, out var fixedType)) return fixedType;
        switch (node.OpType)
        {
            case "Constant": return g.TryGetConstant(name)?.DataType ?? 0;
            case "Cast": return (int)node.GetInt("to", 0);
            case "CastLike": return Get(g, node.Inputs[1], depth + 1);
            case "ConstantOfShape": return node.FindAttribute("value")?.T?.DataType ?? Float;
            case "RandomNormal" or "RandomUniform": return (int)node.GetInt("dtype", Float);
            case "RandomNormalLike" or "RandomUniformLike" or "EyeLike" or "Bernoulli":
                return node.FindAttribute("dtype") is { } dt ? (int)dt.I : Get(g, node.Inputs[0], depth + 1);
            case "Multinomial": return (int)node.GetInt("dtype", Int32);
            case "TopK" or "Unique": return output == 0 ? Get(g, node.Inputs[0], depth + 1) : Int64;
            case "MaxPool": return output == 0 ? Get(g, node.Inputs[0], depth + 1) : Int64;
            case "Dropout": return output == 0 ? Get(g, node.Inputs[0], depth + 1) : (node.OpsetVersion >= 10 ? Bool : Get(g, node.Inputs[0], depth + 1));
            case "QuantizeLinear": return node.Inputs.Count > 2 && node.Inputs[2].Length > 0 ? Get(g, node.Inputs[2], depth + 1) : Uint8;
            case "DynamicQuantizeLinear": return output == 1 ? Float : Uint8;
            case "QLinearConv": return Get(g, node.Inputs[7], depth + 1);
            case "QLinearMatMul": return Get(g, node.Inputs[7], depth + 1);
            case "Where": return Get(g, node.Inputs[1], depth + 1);
            case "OneHot": return Get(g, node.Inputs[2], depth + 1);
            case "If": return Declared(node.Subgraphs[0], node.Subgraphs[0].Outputs[output].Name)?.TensorType?.ElemType ?? 0;
            case "Loop": return output < node.Inputs.Count - 2 ? Get(g, node.Inputs[output + 2], depth + 1) : SubgraphOutput(node, output + 1);
            case "Scan": return SubgraphOutput(node, output);
        }
        // Default: the type of the first present input (elementwise ops, Conv, pooling, reshapes, Gather, ...).
        foreach (var input in node.Inputs)
            if (input.Length > 0) return Get(g, input, depth + 1);
        return 0;
    }

    private static int SubgraphOutput(Node node, int index) =>
        node.Subgraphs.Count > 0 && index < node.Subgraphs[0].Outputs.Count ? node.Subgraphs[0].Outputs[index].Type?.TensorType?.ElemType ?? 0 : 0;

    private static TypeProto? Declared(Graph g, string name)
    {
        foreach (var list in new[] { g.Inputs, g.Outputs, g.ValueInfo })
            foreach (var v in list)
                if (v.Name == name && v.Type?.TensorType is not null) return v.Type;
        return null;
    }

    private static int IndexOf(IReadOnlyList<string> list, string name)
    {
        for (int i = 0; i < list.Count; i++)
            if (list[i] == name) return i;
        return 0;
    }
}
