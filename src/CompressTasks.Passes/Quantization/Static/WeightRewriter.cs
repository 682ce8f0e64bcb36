using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization.Static;

/// <summary>
/// Quantizes the weights (int8) and biases (int32) of the weighted nodes <c>quantize-static</c> chose. A weight
/// read by several nodes is quantized once; when its readers want different channel axes it gets one scale.
/// </summary>
internal static class WeightRewriter
{
    public static void Rewrite(Graph main, IReadOnlyList<(Node Node, float InputScale)> nodes, bool perChannel, PassResult result)
    {
        // Weight name → the channel axes its readers want, in first-read order.
        var axes = new Dictionary<string, HashSet<int>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (node, _) in nodes)
        {
            var weight = main.GetConstant(node.Inputs[1]);
            if (!axes.TryGetValue(weight.Name, out var set))
            {
                axes[weight.Name] = set = [];
                order.Add(weight.Name);
            }
            set.Add(ChannelAxis.Of(node, weight.Dims.Count));
        }

        var scales = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var name in order)
        {
            var wanted = axes[name];
            if (perChannel && wanted.Count > 1)
                result.Note($"'{name}': readers want different channel axes ({string.Join(", ", wanted.Order())}); one scale per tensor");
            int axis = perChannel && wanted.Count == 1 ? wanted.Single() : -1;
            scales[name] = QdqWriter.QuantizeWeight(main.GetConstant(name), axis);
        }

        foreach (var (node, inputScale) in nodes)
        {
            if (node.Inputs.Count < 3 || node.Inputs[2].Length == 0) continue;
            var weightScales = scales[node.Inputs[1]];
            if (BiasSkip(main, node, weightScales.Length) is { } reason)
                result.Note($"{node}: bias stays float32 ({reason}), so ONNX Runtime keeps this node in float");
            else if (!QdqWriter.QuantizeBias(main.GetConstant(node.Inputs[2]), inputScale, weightScales))
                result.Note($"{node}: bias stays float32 (int32 would overflow at scale x·w), so ONNX Runtime keeps this node in float");
        }
    }

    private static string? BiasSkip(Graph main, Node node, int channels)
    {
        string name = node.Inputs[2];
        if (main.TryGetConstant(name) is not { } bias || bias.Graph != main) return "not a constant of this graph";
        if (bias.DataType != 1) return "not float32";
        if (bias.Dims.Count != 1 || (channels > 1 && bias.Dims[0] != channels)) return "not one value per output channel";
        if (bias.UseCount != 1 || main.MustKeepName(name)) return "shared with other readers";
        if (node.OpType == "Gemm" && node.GetFloat("beta", 1f) != 1f) return "Gemm beta is not 1";
        return null;
    }
}
