using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Cleanup;

/// <summary>
/// Merges initializers of one graph that are byte-for-byte identical (same type, shape and payload): readers of
/// the duplicates are rewired to the first one and the duplicates are dropped.
/// </summary>
/// <remarks>
/// Candidates are bucketed by a hash of type, shape and payload, then compared byte by byte, so a hash collision
/// never merges different tensors. Graph inputs (overridable from IR 4) and graph outputs are never merged.
/// </remarks>
public sealed class DedupeInitializers : GraphPass
{
    public override PassDescriptor Descriptor { get; } = new(
        "dedupe-initializers", PassKind.Cleanup,
        "Merges byte-identical initializers and rewires their readers to one copy.");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        foreach (var graph in main.SelfAndDescendants().ToList())
        {
            var buckets = new Dictionary<int, List<TensorProto>>();
            foreach (var tensor in graph.Initializers.ToArray())
            {
                if (graph.MustKeepName(tensor.Name) || (graph.IsGraphInput(tensor.Name) && graph.Model.Proto.IrVersion >= 4)) continue;
                if (tensor.DataType == (int)TensorProto.Types.DataType.String || tensor.StringData.Count > 0) continue;
                var bytes = graph.Model.GetTensorBytes(tensor);
                var key = Hash(tensor, bytes.Span);
                if (!buckets.TryGetValue(key, out var bucket)) buckets[key] = bucket = new List<TensorProto>();
                TensorProto? keep = null;
                foreach (var candidate in bucket)
                {
                    if (candidate.DataType == tensor.DataType && candidate.Dims.Equals(tensor.Dims)
                        && graph.Model.GetTensorBytes(candidate).Span.SequenceEqual(bytes.Span))
                    {
                        keep = candidate;
                        break;
                    }
                }
                if (keep is null)
                {
                    bucket.Add(tensor);
                    continue;
                }
                result.RecordMatch();
                graph.ReplaceAllUses(tensor.Name, keep.Name);
                if (Weights.RemoveIfUnused(graph, tensor.Name)) result.RecordRewrite();
                else result.Skip($"duplicate '{tensor.Name}' of '{keep.Name}' could not be removed");
            }
        }
    }

    private static int Hash(TensorProto tensor, ReadOnlySpan<byte> bytes)
    {
        var hash = new HashCode();
        hash.Add(tensor.DataType);
        foreach (var d in tensor.Dims) hash.Add(d);
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }
}
