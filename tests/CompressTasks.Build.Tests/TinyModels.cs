using CompressTasks.Model;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Build.Tests;

/// <summary>Tiny ONNX models built in code, so tests need no fixture files.</summary>
internal static class TinyModels
{
    /// <summary>A small valid recipe (the model is unchanged by it), so recipe errors never mask what a test checks.</summary>
    public const string Recipe = "passes:\n  - eliminate-identity\n";

    /// <summary>Y = Relu(X), X and Y float[1,4], opset 13.</summary>
    public static void WriteRelu(string path)
    {
        var proto = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "CompressTasks.Build.Tests",
            Graph = new GraphProto
            {
                Name = "relu",
                Node = { new NodeProto { OpType = "Relu", Name = "relu", Input = { "X" }, Output = { "Y" } } },
                Input = { Float("X", 1, 4) },
                Output = { Float("Y", 1, 4) },
            },
        };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        using var model = OnnxModel.FromProto(proto);
        model.Save(path);
    }

    /// <summary>
    /// Y = X·W, X and Y float[1,4], W a float[4,4] initializer whose values are not exact in fp16; saved with
    /// <paramref name="options"/> (e.g. external data). With <paramref name="deadWeight"/>, a second float[4,4]
    /// initializer that nothing reads (so eliminate-dead shrinks the model and its external data).
    /// </summary>
    public static void WriteMatMul(string path, SaveOptions? options = null, bool deadWeight = false)
    {
        var weight = new TensorProto { Name = "W", DataType = (int)TensorProto.Types.DataType.Float, Dims = { 4, 4 } };
        var values = new float[16];
        for (int i = 0; i < values.Length; i++) values[i] = 1f / 3f + i * 0.0123f;
        weight.RawData = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        var proto = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "CompressTasks.Build.Tests",
            Graph = new GraphProto
            {
                Name = "matmul",
                Node = { new NodeProto { OpType = "MatMul", Name = "matmul", Input = { "X", "W" }, Output = { "Y" } } },
                Initializer = { weight },
                Input = { Float("X", 1, 4) },
                Output = { Float("Y", 1, 4) },
            },
        };
        if (deadWeight)
        {
            var dead = weight.Clone();
            dead.Name = "Unused";
            proto.Graph.Initializer.Add(dead);
        }
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        using var model = OnnxModel.FromProto(proto);
        model.Save(path, options);
    }

    private static ValueInfoProto Float(string name, params long[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var d in shape) tensorShape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = tensorShape } },
        };
    }
}
