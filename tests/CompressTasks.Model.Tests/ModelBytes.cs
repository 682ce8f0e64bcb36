using CompressTasks.Model.Onnx;
using Google.Protobuf;

namespace CompressTasks.Model.Tests;

/// <summary>Small models built in code for the malformed corpus and the payload tests.</summary>
internal static class ModelBytes
{
    /// <summary>y = x + w with a 16-float initializer (raw_data, so the hollow parser takes its payload path).</summary>
    public static ModelProto AddModel(TensorProto? weight = null)
    {
        weight ??= new TensorProto
        {
            Name = "w", DataType = 1, Dims = { 16 },
            RawData = ByteString.CopyFrom(Enumerable.Range(0, 16).SelectMany(i => BitConverter.GetBytes((float)i)).ToArray()),
        };
        var graph = new GraphProto
        {
            Name = "add",
            Initializer = { weight },
            Node = { new NodeProto { OpType = "Add", Input = { "x", weight.Name }, Output = { "y" } } },
            Input = { Value("x") },
            Output = { Value("y") },
        };
        return new ModelProto { IrVersion = 8, Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
    }

    public static ValueInfoProto Value(string name) => new()
    {
        Name = name,
        Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dimension { DimValue = 16 } } } } },
    };

    /// <summary>A model whose weight is external with the given entries (location, offset, length…).</summary>
    public static ModelProto ExternalModel(params (string Key, string Value)[] entries)
    {
        var weight = new TensorProto { Name = "w", DataType = 1, Dims = { 16 }, DataLocation = TensorProto.Types.DataLocation.External };
        foreach (var (k, v) in entries) weight.ExternalData.Add(new StringStringEntryProto { Key = k, Value = v });
        return AddModel(weight);
    }

    /// <summary><paramref name="depth"/> If nodes, each holding the next in its then_branch (else_branch empty); the innermost holds a Constant.</summary>
    public static ModelProto NestedIf(int depth)
    {
        var inner = new GraphProto
        {
            Name = "leaf",
            Node =
            {
                new NodeProto
                {
                    OpType = "Constant", Output = { "c" },
                    Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = AddModel().Graph.Initializer[0] } },
                },
            },
            Output = { Value("c") },
        };
        for (int i = 0; i < depth; i++)
        {
            inner = new GraphProto
            {
                Name = $"level{i}",
                Node =
                {
                    new NodeProto
                    {
                        OpType = "If", Input = { "cond" }, Output = { "c" },
                        Attribute =
                        {
                            new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = inner },
                            new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = new GraphProto { Name = "else" } },
                        },
                    },
                },
                Output = { Value("c") },
            };
        }
        return new ModelProto { IrVersion = 8, Graph = inner, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
    }
}
