using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using Google.Protobuf;

namespace CompressTasks.Verification.Tests.Report;

[TestClass]
public sealed class LayerTableTests
{
    private static readonly float[] W1 = [0, 1, 2, 0, -3, 4, 0, 5];
    private static readonly float[] W2 = [1, 2, 3, 4];

    private static TensorProto Tensor<T>(string name, int dataType, T[] values) where T : struct =>
        new() { Name = name, DataType = dataType, Dims = { values.Length }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };

    private static ModelProto Model(params TensorProto[] initializers)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        model.Graph.Initializer.Add(initializers);
        return model;
    }

    [TestMethod]
    public void OneWeightToFloat16_OtherUntouched_ListsExactlyTheChangedOne()
    {
        using var original = OnnxModel.FromProto(Model(Tensor("W1", 1, W1), Tensor("W2", 1, W2)));
        // convert-weights-fp16's shape: the float16 weight under a new name, and a Cast that produces the original name.
        var half = Model(Tensor("W1_fp16", 10, W1.Select(v => (Half)v).ToArray()), Tensor("W2", 1, W2));
        half.Graph.Node.Add(new NodeProto { OpType = "Cast", Input = { "W1_fp16" }, Output = { "W1" }, Attribute = { new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = 1 } } });
        using var compressed = OnnxModel.FromProto(half);

        var layers = LayerTable.Compute(original, compressed);

        Assert.AreEqual(1, layers.Count, string.Join(", ", layers));
        var w1 = layers[0];
        Assert.AreEqual(("W1", "float", "float16", 32, 16, 8L), (w1.Name, w1.TypeBefore, w1.TypeAfter, w1.BitsBefore, w1.BitsAfter, w1.Elements));
        Assert.AreEqual((32L, 16L), (w1.BytesBefore, w1.BytesAfter));
        Assert.AreEqual(3.0 / 8, w1.Sparsity);
    }

    [TestMethod]
    public void AWeightStoredAsSparseInitializer_IsListedWithItsSparsityAndStoredBytes()
    {
        using var original = OnnxModel.FromProto(Model(Tensor("W1", 1, W1), Tensor("W2", 1, W2)));
        // prune-magnitude's sparse storage: the 5 non-zeros of W1 with their int64 flat indices, dense shape [8].
        var sparse = new SparseTensorProto { Values = Tensor("W1", 1, new float[] { 1, 2, -3, 4, 5 }), Indices = Tensor("", 7, new long[] { 1, 2, 4, 5, 7 }) };
        sparse.Dims.Add(8);
        var pruned = Model(Tensor("W2", 1, W2));
        pruned.Graph.SparseInitializer.Add(sparse);
        using var compressed = OnnxModel.FromProto(pruned);

        var w1 = LayerTable.Compute(original, compressed).Single();

        Assert.AreEqual(("W1", "float", "sparse float", 8L), (w1.Name, w1.TypeBefore, w1.TypeAfter, w1.Elements));
        Assert.AreEqual((32L, 5L * 4 + 5 * 8), (w1.BytesBefore, w1.BytesAfter));
        Assert.AreEqual(3.0 / 8, w1.Sparsity!.Value, 1e-12);
    }

    [TestMethod]
    public void ConstantNodeWeights_AreComparedByTheirOutputName()
    {
        static ModelProto WithConstant(TensorProto value)
        {
            var model = Model();
            model.Graph.Node.Add(new NodeProto { OpType = "Constant", Output = { "C" }, Attribute = { new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = value } } });
            return model;
        }

        using var original = OnnxModel.FromProto(WithConstant(Tensor("", 1, W2)));
        using var compressed = OnnxModel.FromProto(WithConstant(Tensor("", 10, W2.Select(v => (Half)v).ToArray())));

        var c = LayerTable.Compute(original, compressed).Single();
        Assert.AreEqual(("C", 32, 16, 0.0), (c.Name, c.BitsBefore, c.BitsAfter, c.Sparsity));
    }

    [TestMethod]
    public void NegativeZero_CountsAsZero_AndUnchangedModelsHaveNoLayers()
    {
        using var original = OnnxModel.FromProto(Model(Tensor("W", 1, new[] { -0f, 1f })));
        using var same = OnnxModel.FromProto(Model(Tensor("W", 1, new[] { -0f, 1f })));
        using var pruned = OnnxModel.FromProto(Model(Tensor("W", 1, new[] { -0f, 0f })));

        Assert.AreEqual(0, LayerTable.Compute(original, same).Count);
        Assert.AreEqual(1.0, LayerTable.Compute(original, pruned).Single().Sparsity);
    }
}
