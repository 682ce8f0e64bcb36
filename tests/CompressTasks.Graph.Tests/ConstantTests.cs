using System.Runtime.InteropServices;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using static CompressTasks.Graphs.Tests.TestGraphs;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Graphs.Tests;

[TestClass]
public sealed class ConstantTests
{
    [TestMethod]
    public void AnInitializer_IsAConstantWithTypedSpan()
    {
        var main = GraphOf("main", ["x"], ["y"], Node("Mul", ["x", "W"], ["y"]));
        main.Initializer.Add(Floats("W", [2, 2], 1, 2, 3, 4));
        var g = Graph.Open(ModelOf(main));
        var c = g.GetConstant("W");
        Assert.AreEqual(ConstantSource.Initializer, c.Source);
        Assert.IsFalse(c.IsOuterScope);
        Assert.AreEqual((int)DataType.Float, c.DataType);
        CollectionAssert.AreEqual(new long[] { 2, 2 }, c.Dims.ToArray());
        Assert.AreEqual(4, c.ElementCount);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4 }, c.AsFloat().ToArray());
        Assert.AreEqual(1, c.UseCount);
        Assert.IsNull(g.TryGetConstant("x"));
        Assert.IsNull(g.TryGetConstant("y"));
    }

    [TestMethod]
    public void TypedFields_AreDecodedToTheSameSpan()
    {
        var t = new TensorProto { Name = "I", DataType = (int)DataType.Int64 };
        t.Dims.Add(3);
        // Packed varints 1, 300, -1 (ten bytes for a negative int64).
        t.Int64Data = ByteString.CopyFrom([1, 0xAC, 0x02, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]);
        var main = GraphOf("main", ["x"], ["y"], Node("Reshape", ["x", "I"], ["y"]));
        main.Initializer.Add(t);
        var c = Graph.Open(ModelOf(main)).GetConstant("I");
        CollectionAssert.AreEqual(new long[] { 1, 300, -1 }, c.AsInt64().ToArray());
    }

    [TestMethod]
    [DataRow(DataType.Float16, 2)]
    [DataRow(DataType.Bfloat16, 2)]
    [DataRow(DataType.Int8, 1)]
    [DataRow(DataType.Uint8, 1)]
    [DataRow(DataType.Int16, 2)]
    [DataRow(DataType.Int32, 4)]
    [DataRow(DataType.Double, 8)]
    [DataRow(DataType.Bool, 1)]
    public void EveryTypedView_SpansThePayload(DataType type, int size)
    {
        var bytes = new byte[3 * size];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)(i % 2);
        var g = Chain();
        var c = g.AddInitializer("k", (int)type, [3], bytes);
        int length = type switch
        {
            DataType.Float16 => c.AsHalf().Length,
            DataType.Bfloat16 => c.AsBFloat16().Length,
            DataType.Int8 => c.AsSByte().Length,
            DataType.Uint8 => c.AsByte().Length,
            DataType.Int16 => c.AsInt16().Length,
            DataType.Int32 => c.AsInt32().Length,
            DataType.Double => c.AsDouble().Length,
            _ => c.AsBool().Length,
        };
        Assert.AreEqual(3, length);
        Assert.IsTrue(MemoryMarshal.AsBytes(c.GetBytes().Span).SequenceEqual(bytes));
    }

    [TestMethod]
    public void AViewOfTheWrongType_ThrowsCT0203()
    {
        var c = Chain().AddInitializer("k", (int)DataType.Float, [1], new byte[4]);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => c.AsInt32().Length);
        Assert.AreEqual(DiagnosticCodes.ConstantUnsupported, e.Code);
    }

    [TestMethod]
    public void ConstantNodes_AreConstantsInEveryAttributeForm()
    {
        var value = Node("Constant", [], ["cv"]);
        value.Attribute.Add(new AttributeProto { Name = "value", T = Floats("", [1], 7f) });
        var single = Node("Constant", [], ["cf"]);
        single.Attribute.Add(new AttributeProto { Name = "value_float", F = 2.5f });
        var ints = Node("Constant", [], ["ci"]);
        var a = new AttributeProto { Name = "value_ints" };
        a.Ints.Add([3, -4]);
        ints.Attribute.Add(a);
        var str = Node("Constant", [], ["cs"]);
        str.Attribute.Add(new AttributeProto { Name = "value_string", S = ByteString.CopyFromUtf8("hi") });
        var sparse = Node("Constant", [], ["cp"]);
        sparse.Attribute.Add(new AttributeProto { Name = "sparse_value", SparseTensor = new SparseTensorProto() });
        var g = Graph.Open(ModelOf(GraphOf("main", [], ["cv"], value, single, ints, str, sparse)));
        Assert.AreEqual(7f, g.GetConstant("cv").AsFloat()[0]);
        var cf = g.GetConstant("cf");
        Assert.AreEqual(ConstantSource.ConstantNode, cf.Source);
        Assert.AreEqual(0, cf.Dims.Count);
        Assert.AreEqual(2.5f, cf.AsFloat()[0]);
        CollectionAssert.AreEqual(new long[] { 3, -4 }, g.GetConstant("ci").AsInt64().ToArray());
        Assert.AreEqual((int)DataType.String, g.GetConstant("cs").DataType);
        Assert.IsNull(g.TryGetConstant("cp"), "sparse_value is not supported");
    }

    [TestMethod]
    public void AnOuterInitializer_IsAConstantOfTheSubgraph_AndSharedAcrossBranches()
    {
        var g = WithIf();
        var then = g.Nodes[0].Subgraphs[0];
        var c = then.GetConstant("W");
        Assert.IsTrue(c.IsOuterScope);
        Assert.AreSame(g, c.Graph);
        CollectionAssert.AreEqual(new float[] { 1, 2 }, c.AsFloat().ToArray());
        Assert.AreEqual(3, c.UseCount, "read by both branches and a nested If");
        Assert.IsTrue(then.GetValue("W").IsOuterScope);
        Assert.IsTrue(then.GetValue("W").IsInitializer);
    }

    [TestMethod]
    public void AnOuterConstantNode_IsAConstantOfTheSubgraph()
    {
        var c = Node("Constant", [], ["k"]);
        c.Attribute.Add(new AttributeProto { Name = "value_floats", Floats = { 1f, 2f } });
        var body = GraphOf("body", ["i", "cond_in"], ["cond_in", "o"], Node("Mul", ["i", "k"], ["o"]));
        var loop = Node("Loop", ["", "", ], ["scan_o"], "loop");
        loop.Attribute.Add(new AttributeProto { Name = "body", G = body });
        var g = Graph.Open(ModelOf(GraphOf("main", [], ["scan_o"], c, loop)));
        var k = g.Nodes[1].Subgraphs[0].GetConstant("k");
        Assert.IsTrue(k.IsOuterScope);
        Assert.AreEqual(ConstantSource.ConstantNode, k.Source);
        CollectionAssert.AreEqual(new float[] { 1, 2 }, k.AsFloat().ToArray());
        Assert.AreEqual(1, k.UseCount);
        Assert.IsNull(g.Nodes[1].Subgraphs[0].TryGetConstant("i"), "loop body inputs are not constants");
        Assert.IsEmpty(GraphValidator.Validate(g));
    }

    [TestMethod]
    public void WhenAnInitializerIsAlsoAnInput_ItIsOnlyConstantBeforeIr4()
    {
        var main = GraphOf("main", ["x", "W"], ["y"], Node("Mul", ["x", "W"], ["y"]));
        main.Initializer.Add(Floats("W", [1], 1));
        Assert.IsNull(Graph.Open(ModelOf(main.Clone(), irVersion: 8)).TryGetConstant("W"));
        Assert.IsNotNull(Graph.Open(ModelOf(main.Clone(), irVersion: 3)).TryGetConstant("W"));
    }

    [TestMethod]
    public void WhenAnInitializerIsReplaced_TypeDimsAndPayloadChangeInPlace()
    {
        var main = GraphOf("main", ["x"], ["y"], Node("Mul", ["x", "W"], ["y"]));
        main.Initializer.Add(Floats("W", [2], 1, 2));
        var g = Graph.Open(ModelOf(main));
        g.GetConstant("W").Replace((int)DataType.Int8, [1, 3], new byte[] { 1, 2, 0xFF });
        var c = g.GetConstant("W");
        CollectionAssert.AreEqual(new sbyte[] { 1, 2, -1 }, c.AsSByte().ToArray());
        CollectionAssert.AreEqual(new long[] { 1, 3 }, c.Dims.ToArray());
        Assert.AreSame(main.Initializer[0], c.Tensor);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => c.Replace((int)DataType.Float, [2], new byte[4]));
        Assert.AreEqual(DiagnosticCodes.TensorDataInvalid, e.Code);
    }

    [TestMethod]
    public void WhenAConstantNodeIsReplaced_ItHoldsOneValueTensor()
    {
        var node = Node("Constant", [], ["c"]);
        node.Attribute.Add(new AttributeProto { Name = "value_float", F = 2.5f });
        var g = Graph.Open(ModelOf(GraphOf("main", [], ["c"], node)));
        g.GetConstant("c").Replace((int)DataType.Float16, [], BitConverter.GetBytes((Half)3));
        Assert.AreEqual("value", node.Attribute.Single().Name);
        Assert.AreEqual((Half)3, g.GetConstant("c").AsHalf()[0]);
    }

    [TestMethod]
    public void AddedInitializers_GetFreshNamesAndAreIndexed()
    {
        var g = WithIf();
        var c = g.AddInitializer("W", (int)DataType.Float, [1], new byte[4]);
        Assert.AreEqual("W_1", c.Name);
        Assert.AreSame(c.Tensor, g.GetInitializer("W_1"));
        Assert.IsTrue(g.DefinesLocally("W_1"));
        Assert.IsTrue(g.RemoveInitializer("W_1"));
        Assert.IsNull(g.TryGetConstant("W_1"));
        Assert.HasCount(1, g.Initializers);
    }
}
