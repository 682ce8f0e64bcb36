using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using Google.Protobuf;

namespace CompressTasks.Passes.Tests;

/// <summary>Builds tiny models in code for pass tests.</summary>
internal sealed class TestModels
{
    private readonly ModelProto _model;

    public TestModels(long opset = 13, long irVersion = 8)
    {
        _model = new ModelProto { IrVersion = irVersion, ProducerName = "tests", Graph = new GraphProto { Name = "g" } };
        _model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
    }

    public GraphProto Graph => _model.Graph;

    public TestModels Input(string name, params long[] shape)
    {
        Graph.Input.Add(ValueInfo(name, shape));
        return this;
    }

    public TestModels Output(string name, params long[] shape)
    {
        Graph.Output.Add(ValueInfo(name, shape));
        return this;
    }

    public TestModels Node(string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes) =>
        Node(Graph, opType, inputs, outputs, attributes);

    public TestModels Node(GraphProto graph, string opType, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = $"{opType}_{graph.Node.Count}" };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        graph.Node.Add(node);
        return this;
    }

    /// <summary>A float initializer with seeded values in [lo, hi).</summary>
    public TestModels Weight(string name, long[] shape, int seed, float lo = -1, float hi = 1) => Weight(Graph, name, shape, seed, lo, hi);

    public TestModels Weight(GraphProto graph, string name, long[] shape, int seed, float lo = -1, float hi = 1)
    {
        var random = new Random(seed);
        long n = 1;
        foreach (var d in shape) n *= d;
        var values = new float[n];
        for (int i = 0; i < values.Length; i++) values[i] = lo + (hi - lo) * random.NextSingle();
        graph.Initializer.Add(Tensor(name, shape, values));
        return this;
    }

    public static TensorProto Tensor(string name, long[] shape, float[] values)
    {
        var t = new TensorProto { Name = name, DataType = 1 };
        t.Dims.AddRange(shape);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    public static AttributeProto GraphAttribute(string name, GraphProto graph) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Graph, G = graph };

    public static ValueInfoProto ValueInfo(string name, long[] shape, int elementType = 1)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var d in shape) tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = tensorShape } } };
    }

    /// <summary>The model, loaded the way the engine loads models (from serialized bytes).</summary>
    public OnnxModel Build() => OnnxModel.Parse(_model.ToByteArray());
}
