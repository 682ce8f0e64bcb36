using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime;
using Google.Protobuf;

namespace CompressTasks.Verification;

/// <summary>
/// Parameters and floating-point operations of a model on one input: what structured pruning should shrink.
/// </summary>
/// <param name="Parameters">Elements of every floating-point or 8/4-bit integer initializer and Constant node tensor
/// of the main graph, i.e. weights however they are stored (a sparse initializer counts its stored non-zeros; int64
/// shape tensors are not parameters).</param>
/// <param name="Flops">2 × multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul in the main graph (other ops are
/// cheap next to them and not counted).</param>
public sealed record ModelCost(long Parameters, long Flops)
{
    private static readonly HashSet<string> Counted = ["Conv", "ConvTranspose", "Gemm", "MatMul"];

    /// <summary>
    /// Counts <paramref name="model"/> on <paramref name="feed"/>. Shapes of computed values come from one ONNX Runtime
    /// run of a copy that exposes the inputs and outputs of every counted node as graph outputs.
    /// </summary>
    public static ModelCost Compute(ModelProto model, IReadOnlyDictionary<string, TensorValue> feed)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(feed);
        var graph = model.Graph;
        var dims = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long parameters = 0;
        foreach (var t in graph.Initializer)
        {
            dims[t.Name] = [.. t.Dims];
            if (IsWeightType(t.DataType)) parameters += TensorData.ElementCount(t);
        }
        foreach (var s in graph.SparseInitializer)
        {
            dims[s.Values.Name] = [.. s.Dims];
            if (IsWeightType(s.Values.DataType)) parameters += TensorData.ElementCount(s.Values);
        }
        foreach (var n in graph.Node)
        {
            if (n is not { OpType: "Constant", Domain: "" or "ai.onnx" } || n.Output.Count != 1) continue;
            if (n.Attribute.FirstOrDefault(a => a.Name == "value") is { T: { } t })
            {
                dims[n.Output[0]] = [.. t.Dims];
                if (IsWeightType(t.DataType) && t.Dims.Count > 0) parameters += TensorData.ElementCount(t);
            }
        }
        foreach (var (name, value) in feed) dims[name] = value.Shape;

        var nodes = graph.Node.Where(n => Counted.Contains(n.OpType) && n.Domain is "" or "ai.onnx").ToList();
        var names = nodes.SelectMany(n => n.Input.Take(2).Append(n.Output[0])).Where(v => v.Length > 0 && !dims.ContainsKey(v)).Distinct().ToArray();
        if (names.Length > 0)
        {
            var copy = model.Clone();
            var existing = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var name in names)
                if (existing.Add(name)) copy.Graph.Output.Add(new ValueInfoProto { Name = name });
            using var session = ModelSession.Open(copy.ToByteArray(), "cost", new RuntimeOptions { Optimization = OptimizationLevel.Disabled, IntraOpThreads = 1 });
            var values = session.Run(feed, names);
            for (int i = 0; i < names.Length; i++) dims[names[i]] = values[i].Shape;
        }

        long flops = 0;
        foreach (var n in nodes)
        {
            long Elements(string v) => dims[v].Aggregate(1L, (a, d) => a * d);
            var w = dims[n.Input[1]];
            long weightElements = w.Aggregate(1L, (a, d) => a * d);
            flops += 2 * n.OpType switch
            {
                // Each Conv output sums C_in/g · ∏k products; each ConvTranspose input feeds C_out/g · ∏k outputs.
                "Conv" => Elements(n.Output[0]) * (weightElements / w[0]),
                "ConvTranspose" => Elements(n.Input[0]) * (weightElements / w[0]),
                "Gemm" => Elements(n.Output[0]) * w[GetInt(n, "transB") != 0 ? 1 : 0],
                _ => Elements(n.Output[0]) * (w.Length >= 2 ? w[^2] : 1),
            };
        }
        return new ModelCost(parameters, flops);
    }

    // float32, float16, float64, bfloat16, and the integer types quantized weights are stored in (uint8, int8, uint4, int4).
    private static bool IsWeightType(int dataType) => dataType is 1 or 10 or 11 or 16 or 2 or 3 or 21 or 22;

    private static long GetInt(NodeProto node, string name) => node.Attribute.FirstOrDefault(a => a.Name == name)?.I ?? 0;
}
