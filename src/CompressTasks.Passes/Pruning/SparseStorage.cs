using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using Google.Protobuf;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// Moves a mostly-zero float32 initializer into the graph's <c>sparse_initializer</c> list (COO: the non-zero
/// values, float32 [nnz], and their linearized positions, int64 [nnz]). The value keeps its name, so readers do
/// not change; ONNX Runtime turns sparse initializers back into dense tensors when it loads the model, so this
/// saves disk and download size, not memory or compute.
/// </summary>
internal static class SparseStorage
{
    /// <summary>Sparse initializers exist from IR version 6 on.</summary>
    public const long MinIrVersion = 6;

    /// <summary>Bytes of the COO encoding: 4 per value and 8 per int64 index.</summary>
    public static long SparseBytes(long nonZeros) => 12 * nonZeros;

    /// <summary>Why <paramref name="weight"/> cannot be stored sparse, or null when it can.</summary>
    public static string? WhyNot(Constant weight)
    {
        if (weight.Graph.Model.Proto.IrVersion < MinIrVersion)
            return $"IR version {weight.Graph.Model.Proto.IrVersion} has no sparse initializers (needs {MinIrVersion})";
        if (weight.Node is not null) return "it is a Constant node (run lift-constants first)";
        if (weight.Graph.Parent is not null) return "it lives in a subgraph";
        if (weight.Graph.MustKeepName(weight.Name) || weight.Graph.IsGraphInput(weight.Name)) return "it is a graph input or output";
        return null;
    }

    /// <summary>Replaces the dense initializer by its sparse encoding.</summary>
    public static void Store(Constant weight, ReadOnlySpan<float> values)
    {
        int nonZeros = 0;
        foreach (float v in values) if (v != 0) nonZeros++;
        var kept = new float[nonZeros];
        var indices = new long[nonZeros];
        int at = 0;
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] == 0) continue;
            kept[at] = values[i];
            indices[at++] = i;
        }
        var sparse = new SparseTensorProto
        {
            Values = new TensorProto { Name = weight.Name, DataType = 1, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(kept.AsSpan())) },
            Indices = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int64, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(indices.AsSpan())) },
        };
        sparse.Values.Dims.Add(nonZeros);
        sparse.Indices.Dims.Add(nonZeros);
        sparse.Dims.Add(weight.Dims);
        var graph = weight.Graph;
        Weights.RemoveInitializer(graph, weight.Name);
        graph.Proto.SparseInitializer.Add(sparse);
    }
}
