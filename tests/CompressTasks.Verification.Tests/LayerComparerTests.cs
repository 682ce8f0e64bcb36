using System.Runtime.InteropServices;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime;
using Google.Protobuf;

namespace CompressTasks.Verification.Tests;

[TestClass]
public sealed class LayerComparerTests
{
    private const int Width = 16;

    // x[2,16] ─mm1(W1)─ relu1 ─mm2(W2)─ relu2 ─mm3(W3)─▶ y; corrupt names the weight to replace with noise.
    private static ModelProto Chain(string? corrupt = null)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = new GraphProto { Name = "chain" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", 2, Width));
        g.Output.Add(Info("y", 2, Width));
        string previous = "x";
        for (int i = 1; i <= 3; i++)
        {
            // Same seed per layer for teacher and student; the corrupted one draws from another seed.
            var random = new Random($"W{i}" == corrupt ? 1000 + i : i);
            var w = new float[Width * Width];
            for (int k = 0; k < w.Length; k++) w[k] = random.NextSingle() * 2 - 1;
            g.Initializer.Add(new TensorProto { Name = $"W{i}", DataType = 1, Dims = { Width, Width }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(w.AsSpan())) });
            string product = i == 3 ? "y" : $"p{i}";
            g.Node.Add(new NodeProto { OpType = "MatMul", Name = $"mm{i}", Input = { previous, $"W{i}" }, Output = { product } });
            if (i == 3) break;
            g.Node.Add(new NodeProto { OpType = "Relu", Name = $"relu{i}", Input = { product }, Output = { $"r{i}" } });
            previous = $"r{i}";
        }
        return model;
    }

    private static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    private static Dictionary<string, TensorValue> Feed()
    {
        var random = new Random(7);
        var x = new float[2 * Width];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle() * 2 - 1;
        return new() { ["x"] = TensorValue.FromFloats(x, 2, Width) };
    }

    [TestMethod]
    [DataRow("W1", "mm1", 0.99)]
    [DataRow("W2", "mm2", 0.99)]
    [DataRow("W3", "mm3", 0.99)]
    [DataRow("W2", "mm2", null)]
    public void WhenOneWeightIsCorrupt_FirstDivergenceIsItsNode(string weight, string node, double? minCosine)
    {
        var divergence = LayerComparer.FindFirstDivergence(Chain(), Chain(corrupt: weight), Feed(), new RuntimeOptions(), minCosine);

        Assert.IsNotNull(divergence);
        Assert.AreEqual(node, divergence.Node);
        Assert.AreEqual("MatMul", divergence.OpType);
        StringAssert.StartsWith(divergence.ToString(), $"first divergence: node '{node}' (MatMul), cosine ");
    }

    [TestMethod]
    public void WhenModelsAgree_ThereIsNoDivergence()
    {
        Assert.IsNull(LayerComparer.FindFirstDivergence(Chain(), Chain(), Feed(), new RuntimeOptions(), 0.99));
    }
}
