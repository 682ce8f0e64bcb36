using System.Runtime.InteropServices;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime;
using Google.Protobuf;

namespace CompressTasks.Verification.Tests.Metrics;

[TestClass]
public sealed class ModelCostTests
{
    private static TensorProto Tensor(string name, int dataType, long[] dims, byte[] bytes)
    {
        var t = new TensorProto { Name = name, DataType = dataType, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.Add(dims);
        return t;
    }

    private static byte[] Floats(int n) => MemoryMarshal.AsBytes(Enumerable.Range(0, n).Select(i => i * 0.01f).ToArray().AsSpan()).ToArray();

    [TestMethod]
    public void WhenCountingConvAndGemm_FlopsAreTwiceTheMultiplyAccumulates()
    {
        // x[2,3,8,8] ─Conv(W[4,3,3,3], b[4], pads 1)─▶ [2,4,8,8] ─Reshape─▶ [2,256] ─Gemm(G[256,10])─▶ [2,10]
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        g.Output.Add(new ValueInfoProto { Name = "y" });
        g.Initializer.Add(Tensor("W", 1, [4, 3, 3, 3], Floats(108)));
        g.Initializer.Add(Tensor("b", 1, [4], Floats(4)));
        g.Initializer.Add(Tensor("G", 1, [256, 10], Floats(2560)));
        g.Initializer.Add(Tensor("shape", 7, [2], MemoryMarshal.AsBytes<long>([2, 256]).ToArray()));
        var conv = new NodeProto { OpType = "Conv", Input = { "x", "W", "b" }, Output = { "c" } };
        conv.Attribute.Add(new AttributeProto { Name = "pads", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 1, 1, 1 } });
        g.Node.Add(conv);
        g.Node.Add(new NodeProto { OpType = "Reshape", Input = { "c", "shape" }, Output = { "f" } });
        g.Node.Add(new NodeProto { OpType = "Gemm", Input = { "f", "G" }, Output = { "y" } });
        var feed = new Dictionary<string, TensorValue> { ["x"] = TensorValue.FromFloats(new float[2 * 3 * 64], 2, 3, 8, 8) };

        var cost = ModelCost.Compute(model, feed);

        // Conv: 2·(2·4·8·8 outputs)·(3·3·3) = 27,648; Gemm: 2·(2·10)·256 = 10,240. Parameters: 108 + 4 + 2,560 (int64 shape not counted).
        Assert.AreEqual(27_648L + 10_240L, cost.Flops);
        Assert.AreEqual(2_672L, cost.Parameters);
    }
}
