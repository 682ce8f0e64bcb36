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
    [DataRow(OptimizationLevel.Disabled)]
    [DataRow(OptimizationLevel.All)]
    public void WhenBothModelsKeepTheirWeightsAsExternalData_TheSearchReadsThemBesideEachFile(OptimizationLevel level)
    {
        var folder = Directory.CreateTempSubdirectory("ct-layers-").FullName;
        try
        {
            // Each model in its own folder with its own data file, every tensor external: ONNX Runtime must resolve each
            // copy's references beside the file it came from.
            string Save(ModelProto model, string name)
            {
                var path = Path.Combine(folder, name, "model.onnx");
                using var m = CompressTasks.Model.OnnxModel.FromProto(model);
                m.Save(path, new CompressTasks.Model.SaveOptions { ExternalData = CompressTasks.Model.ExternalDataPolicy.All, SizeThreshold = 0 });
                return path;
            }
            string teacher = Save(Chain(), "teacher"), student = Save(Chain(corrupt: "W2"), "student");
            var runtime = new RuntimeOptions { Optimization = level };
            Assert.AreEqual("mm2", LayerComparer.FindFirstDivergence(teacher, student, Feed(), runtime, 0.99)?.Node);
            Assert.IsNull(LayerComparer.FindFirstDivergence(teacher, Save(Chain(), "same"), Feed(), runtime, 0.99));
            // Without files to resolve them against, models with external data are not searched.
            using var t = CompressTasks.Model.OnnxModel.Load(teacher);
            using var s = CompressTasks.Model.OnnxModel.Load(student);
            Assert.IsNull(LayerComparer.FindFirstDivergence(t.Proto, s.Proto, Feed(), runtime, 0.99));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [TestMethod]
    public void WhenModelsAgree_ThereIsNoDivergence()
    {
        Assert.IsNull(LayerComparer.FindFirstDivergence(Chain(), Chain(), Feed(), new RuntimeOptions(), 0.99));
    }
    private static TensorProto Weight(string name, int seed)
    {
        var random = new Random(seed);
        var w = new float[Width * Width];
        for (int k = 0; k < w.Length; k++) w[k] = random.NextSingle() * 2 - 1;
        return new TensorProto { Name = name, DataType = 1, Dims = { Width, Width }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(w.AsSpan())) };
    }

    // x[2,16], flag ─If─▶ z ─Relu(post)─▶ y.
    //   then_branch: mm_t1(x, Wo) ─relu_t─ mm_t2(·, Wt) ─▶ tz    (Wo is a main-graph weight read from the outer scope; Wt the branch's own)
    //   else_branch: mm_e(x, We) ─▶ ez
    // `corrupt` names the weight that draws from another seed.
    private static ModelProto Branches(string? corrupt = null)
    {
        int Seed(string name, int seed) => name == corrupt ? seed + 1000 : seed;
        var model = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = new GraphProto { Name = "branches" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Info("x", 2, Width));
        g.Input.Add(new ValueInfoProto { Name = "flag", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 9, Shape = new TensorShapeProto() } } });
        g.Output.Add(Info("y", 2, Width));
        g.Initializer.Add(Weight("Wo", Seed("Wo", 1)));
        var then = new GraphProto { Name = "then", Output = { Info("tz", 2, Width) }, Initializer = { Weight("Wt", Seed("Wt", 2)) } };
        then.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm_t1", Input = { "x", "Wo" }, Output = { "t1" } });
        then.Node.Add(new NodeProto { OpType = "Relu", Name = "relu_t", Input = { "t1" }, Output = { "tr" } });
        then.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm_t2", Input = { "tr", "Wt" }, Output = { "tz" } });
        var otherwise = new GraphProto { Name = "else", Output = { Info("ez", 2, Width) }, Initializer = { Weight("We", Seed("We", 3)) } };
        otherwise.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm_e", Input = { "x", "We" }, Output = { "ez" } });
        var @if = new NodeProto { OpType = "If", Name = "if", Input = { "flag" }, Output = { "z" } };
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then });
        @if.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = otherwise });
        g.Node.Add(@if);
        g.Node.Add(new NodeProto { OpType = "Relu", Name = "post", Input = { "z" }, Output = { "y" } });
        return model;
    }

    private static Dictionary<string, TensorValue> Feed(bool flag)
    {
        var feed = Feed();
        feed["flag"] = new TensorValue(9, [], [(byte)(flag ? 1 : 0)]);
        return feed;
    }

    // ONNX Runtime cannot expose values inside a branch, so the branch that ran is cut out and compared on its own:
    // the report names the If, the branch, and the node inside where the drift starts, also when the weight it reads
    // lives in the main graph (outer scope).
    [TestMethod]
    [DataRow("Wt", "mm_t2")]
    [DataRow("Wo", "mm_t1")]
    public void WhenAWeightInsideAnIfBranchIsCorrupt_TheDivergenceNamesTheIfTheBranchAndTheNodeInside(string weight, string inner)
    {
        var divergence = LayerComparer.FindFirstDivergence(Branches(), Branches(corrupt: weight), Feed(flag: true), new RuntimeOptions(), 0.99);

        Assert.IsNotNull(divergence);
        Assert.AreEqual(("if", "If", "then_branch"), (divergence.Node, divergence.OpType, divergence.Body));
        Assert.IsNotNull(divergence.Inner, divergence.ToString());
        Assert.AreEqual((inner, "MatMul"), (divergence.Inner.Node, divergence.Inner.OpType));
        StringAssert.Contains(divergence.ToString(), $"node 'if' (If), cosine ");
        StringAssert.Contains(divergence.ToString(), $", inside its then_branch at node '{inner}' (MatMul), cosine ");
    }

    [TestMethod]
    public void WhenTheCorruptBranchDoesNotRun_ThereIsNoDivergence()
    {
        Assert.IsNull(LayerComparer.FindFirstDivergence(Branches(), Branches(corrupt: "Wt"), Feed(flag: false), new RuntimeOptions(), 0.99));
        Assert.AreEqual("mm_e", LayerComparer.FindFirstDivergence(Branches(), Branches(corrupt: "We"), Feed(flag: false), new RuntimeOptions(), 0.99)?.Inner?.Node);
    }
}
