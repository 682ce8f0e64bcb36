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
