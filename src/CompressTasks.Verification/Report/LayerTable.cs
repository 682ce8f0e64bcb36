using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Verification;

/// <summary>One weight that compression changed: its storage before and after, and how sparse it is now.</summary>
/// <param name="Name">The initializer's name in the original model.</param>
/// <param name="Sparsity">Fraction of exact zeros after compression (±0 for floating types); null for sub-byte types.</param>
public sealed record LayerChange(
    string Name, string TypeBefore, string TypeAfter, int BitsBefore, int BitsAfter, long Elements, long BytesBefore, long BytesAfter, double? Sparsity);

/// <summary>Compares the initializers of two saved models, by name or through the DequantizeLinear/Cast that now produces the name.</summary>
public static class LayerTable
{
    public static IReadOnlyList<LayerChange> Compute(OnnxModel original, OnnxModel compressed)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(compressed);
        var after = Weights(compressed.Proto.Graph).ToDictionary(w => w.Name, w => w.Tensor, StringComparer.Ordinal);
        var producers = new Dictionary<string, NodeProto>(StringComparer.Ordinal);
        foreach (var n in compressed.Proto.Graph.Node)
            foreach (var o in n.Output) producers.TryAdd(o, n);

        // Weights a pruning pass stored as sparse_initializer: their values and indices, named by the values tensor.
        var sparse = compressed.Proto.Graph.SparseInitializer.Where(t => t.Values is not null)
            .GroupBy(t => t.Values.Name, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);

        var changes = new List<LayerChange>();
        foreach (var (name, before) in Weights(original.Proto.Graph))
        {
            var now = after.GetValueOrDefault(name) ?? Source(name, producers, after);
            if (now is null && sparse.TryGetValue(name, out var stored))
            {
                long total = TensorData.ElementCount(before), kept = TensorData.ElementCount(stored.Values);
                long bytes = compressed.GetTensorBytes(stored.Values).Length + compressed.GetTensorBytes(stored.Indices).Length;
                changes.Add(new LayerChange(name, DataTypes.Name(before.DataType), "sparse " + DataTypes.Name(stored.Values.DataType),
                    DataTypes.BitsPerElement(before.DataType), DataTypes.BitsPerElement(stored.Values.DataType), total,
                    original.GetTensorBytes(before).Length, bytes, total == 0 ? null : 1 - (double)kept / total));
                continue;
            }
            if (now is null) continue;
            var a = original.GetTensorBytes(before).Span;
            var b = compressed.GetTensorBytes(now).Span;
            if (before.DataType == now.DataType && a.SequenceEqual(b)) continue;
            long elements = TensorData.ElementCount(now);
            changes.Add(new LayerChange(name, DataTypes.Name(before.DataType), DataTypes.Name(now.DataType),
                DataTypes.BitsPerElement(before.DataType), DataTypes.BitsPerElement(now.DataType), elements,
                a.Length, b.Length, Sparsity(b, now.DataType, elements)));
        }
        return changes;
    }

    // Initializers, then Constant nodes' tensors under the name of the value they produce (first one wins).
    private static IEnumerable<(string Name, TensorProto Tensor)> Weights(GraphProto graph)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in graph.Initializer)
            if (seen.Add(t.Name)) yield return (t.Name, t);
        foreach (var n in graph.Node)
            if (n is { OpType: "Constant", Domain: "" or "ai.onnx" } && n.Output.Count == 1
                && n.Attribute.FirstOrDefault(a => a.Name == "value") is { T: { } t } && seen.Add(n.Output[0]))
                yield return (n.Output[0], t);
    }

    // A weight rewritten to a smaller type keeps its name as the output of the node that restores it.
    private static TensorProto? Source(string name, Dictionary<string, NodeProto> producers, Dictionary<string, TensorProto> initializers) =>
        producers.TryGetValue(name, out var node) && node.OpType is "DequantizeLinear" or "Cast" && node.Domain is "" or "ai.onnx" && node.Input.Count > 0
            ? initializers.GetValueOrDefault(node.Input[0])
            : null;

    private static double? Sparsity(ReadOnlySpan<byte> payload, int dataType, long elements)
    {
        int bits = DataTypes.BitsPerElement(dataType);
        if (bits < 8 || elements == 0 || payload.Length < elements * (bits / 8)) return null;
        int width = bits / 8;
        bool floating = (DataType)dataType is DataType.Float or DataType.Double or DataType.Float16 or DataType.Bfloat16;
        long zeros = 0;
        for (long i = 0; i < elements; i++)
        {
            var e = payload.Slice((int)(i * width), width);
            // Little-endian: the sign bit of a floating value is the top bit of its last byte.
            bool zero = e[..^1].IndexOfAnyExcept((byte)0) < 0 && (e[^1] == 0 || (floating && e[^1] == 0x80));
            if (zero) zeros++;
        }
        return (double)zeros / elements;
    }
}
