using CompressTasks.Model;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Verification;

/// <summary>Size facts of a model, as the report shows them before and after compression.</summary>
public sealed record ModelStatistics(
    long FileBytes,
    int Nodes,
    int Initializers,
    long Parameters,
    IReadOnlyDictionary<string, long> BytesByType,
    IReadOnlyDictionary<string, int> Operators)
{
    /// <summary>Counts over the whole model (subgraph nodes included); <paramref name="fileBytes"/> includes external data files.</summary>
    public static ModelStatistics Compute(ModelProto model, long fileBytes)
    {
        int nodes = 0;
        var ops = new SortedDictionary<string, int>(StringComparer.Ordinal);
        CountNodes(model.Graph, ref nodes, ops);
        int initializers = 0;
        long parameters = 0;
        var bytes = new SortedDictionary<string, long>(StringComparer.Ordinal);
        TensorVisitor.ForEachTensor(model, t =>
        {
            initializers++;
            long n = TensorData.ElementCount(t);
            parameters += n;
            var type = DataTypes.Name(t.DataType);
            bytes[type] = bytes.GetValueOrDefault(type) + TensorData.StoredByteCount(t);
        });
        return new ModelStatistics(fileBytes, nodes, initializers, parameters, bytes, ops);
    }

    /// <summary>Bytes of a model file plus the external data files it names.</summary>
    public static long FileSize(string modelPath, ModelProto model)
    {
        long size = new FileInfo(modelPath).Length;
        var dir = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var locations = new HashSet<string>(StringComparer.Ordinal);
        TensorVisitor.ForEachTensor(model, t =>
        {
            if (TensorData.IsExternal(t)) locations.Add(ExternalDataStore.Describe(t).Location);
        });
        foreach (var location in locations)
        {
            var path = Path.Combine(dir, location);
            if (File.Exists(path)) size += new FileInfo(path).Length;
        }
        return size;
    }

    private static void CountNodes(GraphProto? graph, ref int nodes, SortedDictionary<string, int> ops)
    {
        if (graph is null) return;
        foreach (var node in graph.Node)
        {
            nodes++;
            var key = string.IsNullOrEmpty(node.Domain) || node.Domain == "ai.onnx" ? node.OpType : $"{node.Domain}.{node.OpType}";
            ops[key] = ops.GetValueOrDefault(key) + 1;
            foreach (var a in node.Attribute)
            {
                CountNodes(a.G, ref nodes, ops);
                foreach (var g in a.Graphs) CountNodes(g, ref nodes, ops);
            }
        }
    }
}
