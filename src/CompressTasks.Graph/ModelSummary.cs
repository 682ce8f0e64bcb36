using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Graphs;

/// <summary>A value's declared interface: name, element type and shape (symbolic dimensions by name, "?" when unknown).</summary>
/// <param name="Name">The value name.</param>
/// <param name="ElementType">The element type name (e.g. <c>float</c>), or the kind of a non-tensor type.</param>
/// <param name="Shape">One entry per dimension; null when the rank is unknown.</param>
public sealed record ValueSummary(string Name, string ElementType, IReadOnlyList<string>? Shape);

/// <summary>One constant tensor: where it is, its type, shape and size.</summary>
/// <param name="Name">The value name.</param>
/// <param name="GraphPath">The graph that defines it.</param>
/// <param name="ElementType">The element type name.</param>
/// <param name="Dims">The dimensions.</param>
/// <param name="Bytes">Dense payload size in bytes.</param>
/// <param name="Source">Initializer or Constant node.</param>
public sealed record ConstantSummary(string Name, string GraphPath, string ElementType, IReadOnlyList<long> Dims, long Bytes, ConstantSource Source);

/// <summary>How often an operator occurs in the main graph and, separately, inside subgraphs.</summary>
/// <param name="OpType">The operator, prefixed by its domain when not the default one.</param>
/// <param name="InMainGraph">Occurrences in the main graph.</param>
/// <param name="InSubgraphs">Occurrences inside If/Loop/Scan bodies at any depth.</param>
public sealed record OperatorCount(string OpType, int InMainGraph, int InSubgraphs);

/// <summary>Bytes an external data file holds for this model's tensors.</summary>
/// <param name="Location">The file name as the model references it.</param>
/// <param name="Tensors">How many tensors it holds.</param>
/// <param name="Bytes">Their total payload size.</param>
public sealed record ExternalFileSummary(string Location, int Tensors, long Bytes);

/// <summary>
/// Facts about a model for <c>compress inspect</c> and reports: versions, interface, operator histogram, parameter
/// count, bytes by type, largest constants and external data. Counts only headers; payloads are not read.
/// </summary>
public sealed class ModelSummary
{
    private ModelSummary() { }

    /// <summary>The model's IR version.</summary>
    public long IrVersion { get; private init; }

    /// <summary>Producer name and version, e.g. <c>pytorch 2.8.0</c>.</summary>
    public string Producer { get; private init; } = "";

    /// <summary>Imported operator sets (domain "" printed as <c>ai.onnx</c>).</summary>
    public IReadOnlyList<(string Domain, long Version)> Opsets { get; private init; } = [];

    /// <summary>Main-graph inputs that are not initializers.</summary>
    public IReadOnlyList<ValueSummary> Inputs { get; private init; } = [];

    /// <summary>Main-graph outputs.</summary>
    public IReadOnlyList<ValueSummary> Outputs { get; private init; } = [];

    /// <summary>Operator histogram, most frequent first.</summary>
    public IReadOnlyList<OperatorCount> Operators { get; private init; } = [];

    /// <summary>Elements of all numeric (float and integer) initializers and Constant tensors, in every graph.</summary>
    public long ParameterCount { get; private init; }

    /// <summary>Payload bytes of all constants, by element type name, largest first.</summary>
    public IReadOnlyList<(string ElementType, long Bytes)> BytesByType { get; private init; } = [];

    /// <summary>All constants, largest first.</summary>
    public IReadOnlyList<ConstantSummary> Constants { get; private init; } = [];

    /// <summary>External data files referenced by the model.</summary>
    public IReadOnlyList<ExternalFileSummary> ExternalFiles { get; private init; } = [];

    /// <summary>Summarizes the model behind <paramref name="graph"/> (its main graph and every subgraph).</summary>
    public static ModelSummary Of(Graph graph)
    {
        var root = graph.Root;
        var model = root.Model.Proto;
        var ops = new Dictionary<string, (int Main, int Nested)>(StringComparer.Ordinal);
        var constants = new List<ConstantSummary>();
        var bytesByType = new Dictionary<string, long>(StringComparer.Ordinal);
        var external = new Dictionary<string, (int Count, long Bytes)>(StringComparer.Ordinal);
        long parameters = 0;
        foreach (var g in root.SelfAndDescendants())
        {
            bool nested = g.Parent is not null;
            foreach (var n in g.Nodes)
            {
                var key = Graph.IsDefaultDomain(n.Domain) ? n.OpType : $"{n.Domain}.{n.OpType}";
                var (main, inner) = ops.GetValueOrDefault(key);
                ops[key] = nested ? (main, inner + 1) : (main + 1, inner);
                if (n.Is("Constant") && n.Outputs.Count == 1 && g.TryGetConstant(n.Outputs[0]) is { } c) Add(c, g);
            }
            foreach (var t in g.Initializers)
            {
                Add(new Constant(g, g, t.Name, t, null), g);
                if (!TensorData.IsExternal(t)) continue;
                var (location, _, length) = ExternalDataStore.Describe(t);
                var (count, total) = external.GetValueOrDefault(location);
                external[location] = (count + 1, total + (length ?? DataTypes.ByteCount(t.DataType, TensorData.ElementCount(t))));
            }
        }
        constants.Sort((a, b) => b.Bytes.CompareTo(a.Bytes));

        var initializerNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var t in root.Initializers) initializerNames.Add(t.Name);
        var inputs = new List<ValueSummary>();
        foreach (var v in root.Inputs)
            if (!initializerNames.Contains(v.Name)) inputs.Add(Describe(v));
        var outputs = new List<ValueSummary>();
        foreach (var v in root.Outputs) outputs.Add(Describe(v));

        var opsets = new List<(string, long)>();
        foreach (var o in model.OpsetImport) opsets.Add((o.Domain.Length == 0 ? "ai.onnx" : o.Domain, o.Version));
        var operators = ops.Select(kv => new OperatorCount(kv.Key, kv.Value.Main, kv.Value.Nested))
            .OrderByDescending(o => o.InMainGraph + o.InSubgraphs).ThenBy(o => o.OpType, StringComparer.Ordinal).ToList();
        return new ModelSummary
        {
            IrVersion = model.IrVersion,
            Producer = $"{model.ProducerName} {model.ProducerVersion}".Trim(),
            Opsets = opsets,
            Inputs = inputs,
            Outputs = outputs,
            Operators = operators,
            ParameterCount = parameters,
            BytesByType = bytesByType.OrderByDescending(kv => kv.Value).Select(kv => (kv.Key, kv.Value)).ToList(),
            Constants = constants,
            ExternalFiles = external.OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => new ExternalFileSummary(kv.Key, kv.Value.Count, kv.Value.Bytes)).ToList(),
        };

        void Add(Constant c, Graph owner)
        {
            var t = c.Tensor;
            long elements = TensorData.ElementCount(t);
            long bytes = t.DataType == (int)DataType.String ? TensorData.StoredByteCount(t) : DataTypes.ByteCount(t.DataType, elements);
            var type = DataTypes.Name(t.DataType);
            constants.Add(new ConstantSummary(c.Name, owner.Path, type, [.. t.Dims], bytes, c.Source));
            bytesByType[type] = bytesByType.GetValueOrDefault(type) + bytes;
            if (t.DataType is not ((int)DataType.String or (int)DataType.Bool or (int)DataType.Undefined)) parameters += elements;
        }
    }

    /// <summary>Type and shape of a declared value, symbolic dimensions by name.</summary>
    public static ValueSummary Describe(ValueInfoProto value)
    {
        var type = value.Type;
        if (type?.TensorType is not { } tensor)
            return new ValueSummary(value.Name, type?.ValueCase.ToString().Replace("Type", "", StringComparison.Ordinal).ToLowerInvariant() ?? "?", null);
        if (tensor.Shape is null) return new ValueSummary(value.Name, DataTypes.Name(tensor.ElemType), null);
        var dims = new List<string>(tensor.Shape.Dim.Count);
        foreach (var d in tensor.Shape.Dim)
            dims.Add(d.ValueCase switch
            {
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => d.DimValue.ToString(System.Globalization.CultureInfo.InvariantCulture),
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => d.DimParam,
                _ => "?",
            });
        return new ValueSummary(value.Name, DataTypes.Name(tensor.ElemType), dims);
    }
}
