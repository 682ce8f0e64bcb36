using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Graphs.Tests;

/// <summary>Small models built in code for the graph tests.</summary>
internal static class TestGraphs
{
    public static NodeProto Node(string op, string[] inputs, string[] outputs, string? name = null)
    {
        var n = new NodeProto { OpType = op, Name = name ?? $"{op}_{outputs.FirstOrDefault()}" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    public static ValueInfoProto Info(string name, int elemType = (int)DataType.Float, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elemType, Shape = shape } } };
    }

    public static TensorProto Floats(string name, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = (int)DataType.Float };
        t.Dims.Add(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    public static GraphProto GraphOf(string name, string[] inputs, string[] outputs, params NodeProto[] nodes)
    {
        var g = new GraphProto { Name = name };
        foreach (var i in inputs) g.Input.Add(Info(i));
        foreach (var o in outputs) g.Output.Add(Info(o));
        g.Node.Add(nodes);
        return g;
    }

    public static OnnxModel ModelOf(GraphProto graph, long opset = 17, long irVersion = 8)
    {
        var m = new ModelProto { IrVersion = irVersion, ProducerName = "tests", Graph = graph };
        m.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return OnnxModel.FromProto(m);
    }

    /// <summary>x → Relu → a → Neg → b → Add(a, b) → y.</summary>
    public static Graph Chain()
    {
        var g = GraphOf("main", ["x"], ["y"],
            Node("Relu", ["x"], ["a"]),
            Node("Neg", ["a"], ["b"]),
            Node("Add", ["a", "b"], ["y"]));
        return Graph.Open(ModelOf(g));
    }

    /// <summary>
    /// main: cond, x; initializer W (shared); If(cond) with then = MatMul(x, W) → t, else = Mul(x, W) → e,
    /// the else branch nesting another If whose body reads W and x again. Output y.
    /// </summary>
    public static Graph WithIf()
    {
        var then = GraphOf("then", [], ["t"], Node("MatMul", ["x", "W"], ["t"]));
        var inner = GraphOf("inner", [], ["i"], Node("Add", ["x", "W"], ["i"]));
        var innerIf = Node("If", ["cond"], ["e2"], "inner_if");
        innerIf.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = inner });
        innerIf.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = GraphOf("inner_else", [], ["x"]) });
        var @else = GraphOf("else", [], ["e"], Node("Mul", ["x", "W"], ["m"]), innerIf, Node("Sub", ["m", "e2"], ["e"]));
        var @if = Node("If", ["cond"], ["y"], "top_if");
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then });
        @if.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = @else });
        var main = GraphOf("main", ["cond", "x"], ["y"], @if);
        main.Input[0] = Info("cond", (int)DataType.Bool);
        main.Initializer.Add(Floats("W", [2], 1f, 2f));
        return Graph.Open(ModelOf(main));
    }
}
