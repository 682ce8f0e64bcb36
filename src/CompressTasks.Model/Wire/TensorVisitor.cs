using CompressTasks.Model.Onnx;

namespace CompressTasks.Model;

/// <summary>Visits every <see cref="TensorProto"/> a model holds, wherever it lives.</summary>
public static class TensorVisitor
{
    /// <summary>
    /// Calls <paramref name="visit"/> for each tensor: initializers, sparse initializers (values and indices),
    /// tensor attributes of nodes (Constant values included) in the main graph, in every nested subgraph,
    /// in local functions and in training graphs.
    /// </summary>
    public static void ForEachTensor(ModelProto model, Action<TensorProto> visit)
    {
        if (model.Graph is not null) ForEachTensor(model.Graph, visit);
        foreach (var info in model.TrainingInfo)
        {
            if (info.Initialization is not null) ForEachTensor(info.Initialization, visit);
            if (info.Algorithm is not null) ForEachTensor(info.Algorithm, visit);
        }
        foreach (var function in model.Functions)
        {
            foreach (var node in function.Node) Visit(node.Attribute, visit);
            Visit(function.AttributeProto, visit);
        }
    }

    /// <inheritdoc cref="ForEachTensor(ModelProto, Action{TensorProto})"/>
    public static void ForEachTensor(GraphProto graph, Action<TensorProto> visit)
    {
        foreach (var t in graph.Initializer) visit(t);
        foreach (var s in graph.SparseInitializer) Visit(s, visit);
        foreach (var node in graph.Node) Visit(node.Attribute, visit);
    }

    private static void Visit(IEnumerable<AttributeProto> attributes, Action<TensorProto> visit)
    {
        foreach (var a in attributes)
        {
            if (a.T is not null) visit(a.T);
            foreach (var t in a.Tensors) visit(t);
            if (a.SparseTensor is not null) Visit(a.SparseTensor, visit);
            foreach (var s in a.SparseTensors) Visit(s, visit);
            if (a.G is not null) ForEachTensor(a.G, visit);
            foreach (var g in a.Graphs) ForEachTensor(g, visit);
        }
    }

    private static void Visit(SparseTensorProto sparse, Action<TensorProto> visit)
    {
        if (sparse.Values is not null) visit(sparse.Values);
        if (sparse.Indices is not null) visit(sparse.Indices);
    }
}
