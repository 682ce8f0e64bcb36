using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// The graph walk behind <see cref="ConvertToFloat16"/>. Each value gets a final type: float32 values become float16
/// when produced by a converted node (or a converted constant); every node input then receives the type its node
/// wants (float16 for converted nodes, float32 for blocked ones and float32-only inputs), through one shared Cast
/// per value, target type and graph where they differ. Graphs are handled parents first, so a subgraph sees the
/// final types of the outer values it reads.
/// </summary>
internal sealed class Float16Rewriter(ISet<string> blockedOps, ISet<string> blockedNodes, bool keepIoTypes, PassResult result)
{
    private const int F32 = 1, F16 = 10;
    private readonly ElementTypes _types = new();
    private readonly Dictionary<(Graph, string), int> _final = new();
    private readonly Dictionary<(Graph, string, int), string> _casts = new();
    // float32 constants with finite values beyond ±65504: they stay float32 and so do their readers.
    private readonly HashSet<(Graph, string)> _wide = new();

    public int NodesConverted { get; private set; }

    public int ConstantsConverted { get; private set; }

    public int CastsInserted { get; private set; }

    /// <summary>Whether <paramref name="node"/> computes in float16. Control flow always follows its bodies.</summary>
    public bool IsConverted(Node node) =>
        Graph.IsDefaultDomain(node.Domain) && !blockedOps.Contains(node.OpType)
        && (node.Subgraphs.Count > 0 || (!blockedNodes.Contains(node.Name) && !ReadsWideConstant(node)));

    private bool ReadsWideConstant(Node node)
    {
        if (_wide.Count == 0) return false;
        foreach (var input in node.Inputs)
            if (input.Length > 0 && _wide.Contains((node.Graph!.Resolve(input) ?? node.Graph, input))) return true;
        return false;
    }

    /// <summary>Records every value's original type before anything changes (later lookups must not see edits).</summary>
    public void Prime(Graph main)
    {
        foreach (var graph in main.SelfAndDescendants())
        {
            foreach (var node in graph.Nodes)
                foreach (var name in node.Outputs) _types.Get(graph, name);
            foreach (var output in graph.Outputs) _types.Get(graph, output.Name);
            var constants = graph.Initializers.Select(t => t.Name).Concat(graph.Nodes.Where(n => n.Is("Constant")).Select(n => n.Outputs[0]));
            foreach (var name in constants.ToList())
            {
                if (graph.TryGetConstant(name) is not { DataType: F32, IsOuterScope: false } constant) continue;
                int wide = Float16Narrowing.CountOutOfRange(constant.AsFloat());
                if (wide == 0) continue;
                _wide.Add((graph, name));
                result.Note($"'{name}' holds {wide} values beyond float16's range: it and its readers stay float32");
            }
        }
    }

    public void Convert(Graph graph)
    {
        bool main = graph.Parent is null;
        foreach (var input in graph.Inputs)
        {
            if (input.Type?.TensorType is not { ElemType: F32 } tensor || graph.GetInitializer(input.Name) is not null) continue;
            if (main && keepIoTypes) continue;
            tensor.ElemType = F16;
            _final[(graph, input.Name)] = F16;
        }
        foreach (var initializer in graph.Initializers.ToArray())
            if (initializer.DataType == F32 && graph.TryGetConstant(initializer.Name) is { } constant) ConvertConstant(constant);
        foreach (var node in graph.Nodes.ToArray()) ConvertNode(graph, node);
        ConvertOutputs(graph, main);
        foreach (var info in graph.ValueInfo)
            if (info.Type?.TensorType is { ElemType: F32 } tensor && Current(graph, info.Name) == F16) tensor.ElemType = F16;
    }

    private int Current(Graph graph, string name) =>
        _final.TryGetValue((graph.Resolve(name) ?? graph, name), out var type) ? type : _types.Get(graph, name);

    private int Wanted(Node node, int input) => IsConverted(node) && !Float16OpTables.IsFloat32Only(node.OpType, input) ? F16 : F32;

    // A float32 constant becomes float16 when at least one reader wants float16; float32 readers then get a Cast.
    private void ConvertConstant(Constant constant)
    {
        var graph = constant.Graph;
        if (!graph.GetConsumers(constant.Name).Any(c => Wanted(c.Node, c.Index) == F16)) return;
        var half = new Half[constant.ElementCount];
        int saturated = Float16Narrowing.ToHalfSaturating(constant.AsFloat(), half);
        if (saturated > 0) result.Note($"'{constant.Name}': {saturated} values beyond float16's range saturated to ±65504");
        constant.Replace(F16, constant.Dims.ToArray(), MemoryMarshal.AsBytes(half.AsSpan()).ToArray());
        // Before IR 4 the initializer is also declared as a graph input: the declaration follows its type.
        foreach (var input in graph.Inputs)
            if (input.Name == constant.Name && input.Type?.TensorType is { } t) t.ElemType = F16;
        _final[(graph, constant.Name)] = F16;
        ConstantsConverted++;
    }

    private void ConvertNode(Graph graph, Node node)
    {
        if (node.Is("Constant"))
        {
            if (graph.TryGetConstant(node.Outputs[0]) is { DataType: F32 } constant) ConvertConstant(constant);
            return;
        }
        bool converted = IsConverted(node);
        if (!converted && !Graph.IsDefaultDomain(node.Domain)) result.Note($"{node} ({node.Domain}) is not a standard op: left in float32");
        for (int i = 0; i < node.Inputs.Count; i++)
        {
            string name = node.Inputs[i];
            if (name.Length == 0) continue;
            int current = Current(graph, name), wanted = Wanted(node, i);
            if (current is F32 or F16 && current != wanted) node.SetInput(i, CastOf(graph, node, name, wanted));
        }
        if (!converted) return;
        bool any = false;
        for (int o = 0; o < node.Outputs.Count; o++)
        {
            if (node.Outputs[o].Length == 0 || _types.Get(graph, node.Outputs[o]) != F32) continue;
            _final[(graph, node.Outputs[o])] = F16;
            any = true;
        }
        if (any) ConvertTypeAttributes(node);
        if (any || node.Subgraphs.Count > 0) NodesConverted++;
    }

    // Attributes that name the float32 output type: Cast's `to`, the generators' `dtype`, ConstantOfShape's fill.
    private static void ConvertTypeAttributes(Node node)
    {
        if (node.Is("ConstantOfShape"))
        {
            ConvertFill(node);
            return;
        }
        if (Array.IndexOf(Float16OpTables.DataTypeAttributeOps, node.OpType) < 0) return;
        var attribute = node.FindAttribute(node.OpType == "Cast" ? "to" : "dtype");
        if (attribute is { I: F32 }) attribute.I = F16;
        else if (attribute is null && node.OpType is "RandomNormal" or "RandomUniform")
            node.Proto.Attribute.Add(new AttributeProto { Name = "dtype", Type = AttributeProto.Types.AttributeType.Int, I = F16 });
    }

    // ConstantOfShape fills with `value` (float32 zero when absent): the fill becomes float16 when it was float32.
    private static void ConvertFill(Node node)
    {
        var value = node.FindAttribute("value");
        float fill = value is null ? 0f : MemoryMarshal.Cast<byte, float>(value.T.RawData.Span).Length > 0
            ? MemoryMarshal.Cast<byte, float>(value.T.RawData.Span)[0] : value.T.FloatData[0];
        if (value is not null) node.Proto.Attribute.Remove(value);
        var tensor = new TensorProto { DataType = F16, RawData = Google.Protobuf.ByteString.CopyFrom(BitConverter.GetBytes((Half)fill)) };
        tensor.Dims.Add(1);
        node.Proto.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
    }

    // Main graph: outputs keep their float32 type (keep-io-types) through a Cast after the producer, or are declared
    // float16. Subgraph outputs become float16 so that If branches, Loop and Scan bodies agree with their node.
    private void ConvertOutputs(Graph graph, bool main)
    {
        for (int i = 0; i < graph.Outputs.Count; i++)
        {
            var output = graph.Outputs[i];
            if (output.Type?.TensorType is not { } tensor || _types.Get(graph, output.Name) != F32) continue;
            int current = Current(graph, output.Name);
            if (main && current != (keepIoTypes ? F32 : F16))
            {
                // The name must stay: the producer writes a fresh name and a Cast restores the declared one.
                if (graph.GetProducer(output.Name) is not { } producer) continue;
                int from = keepIoTypes ? F16 : F32, to = keepIoTypes ? F32 : F16;
                string fresh = graph.FreshName(output.Name + (from == F16 ? "_fp16" : "_fp32"));
                producer.SetOutput(producer.Proto.Output.IndexOf(output.Name), fresh);
                graph.ReplaceAllUses(output.Name, fresh);
                _final[(graph, fresh)] = from;
                graph.InsertAfter(producer, Cast(graph, fresh, output.Name, to));
                CastsInserted++;
            }
            else if (!main && current == F32)
            {
                // A body output still float32 (a blocked producer, a pass-through): cast it at the end of the body.
                string half = graph.FreshName(output.Name + "_fp16");
                graph.AddNode(Cast(graph, output.Name, half, F16));
                CastsInserted++;
                output.Name = half;
            }
            if (main && keepIoTypes) continue;
            tensor.ElemType = F16;
        }
    }

    // One Cast per value, target type and reading graph, placed before the first reader in that graph.
    private string CastOf(Graph graph, Node reader, string name, int to)
    {
        if (_casts.TryGetValue((graph, name, to), out var existing)) return existing;
        string cast = graph.FreshName(name + (to == F16 ? "_fp16" : "_fp32"));
        graph.InsertBefore(reader, Cast(graph, name, cast, to));
        _final[(graph, cast)] = to;
        _casts[(graph, name, to)] = cast;
        CastsInserted++;
        return cast;
    }

    private static NodeProto Cast(Graph graph, string input, string output, int to) => new()
    {
        OpType = "Cast",
        Name = graph.FreshName(to == F16 ? "Cast_to_fp16" : "Cast_to_fp32"),
        Input = { input },
        Output = { output },
        Attribute = { new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = to } },
    };
}
