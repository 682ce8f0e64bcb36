using CompressTasks.Model.Onnx;
using static CompressTasks.Graphs.Tests.TestGraphs;

namespace CompressTasks.Graphs.Tests;

[TestClass]
public sealed class NodeTests
{
    [TestMethod]
    public void WhenAnInputIsSet_ConsumersMove()
    {
        var g = Chain();
        var add = g.Nodes[2];
        add.SetInput(1, "x");
        Assert.AreEqual(0, g.UseCount("b"));
        Assert.AreEqual(2, g.UseCount("x"));
        Assert.AreEqual("x", g.Proto.Node[2].Input[1]);
    }

    [TestMethod]
    public void WhenInputsAreAddedAndRemoved_PositionsStayRight()
    {
        var g = Chain();
        var add = g.Nodes[2];
        add.AddInput("x");
        add.RemoveInput(0);
        CollectionAssert.AreEqual(new[] { "b", "x" }, add.Inputs.ToArray());
        var xUse = g.GetConsumers("x").Single(u => u.Node == add);
        Assert.AreEqual(1, xUse.Index);
        Assert.AreEqual(0, g.GetConsumers("b").Single().Index);
        Assert.AreEqual(1, g.UseCount("a"));
    }

    [TestMethod]
    public void WhenAnOutputIsRenamed_TheProducerIndexFollows()
    {
        var g = Chain();
        var relu = g.Nodes[0];
        relu.SetOutput(0, "a_new");
        Assert.IsNull(g.GetProducer("a"));
        Assert.AreSame(relu, g.GetProducer("a_new"));
        relu.AddOutput("extra");
        Assert.AreSame(relu, g.GetProducer("extra"));
        relu.RemoveOutput(1);
        Assert.IsNull(g.GetProducer("extra"));
    }

    [TestMethod]
    public void EmptyInputNames_AreNotUses()
    {
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"], Node("Clip", ["x", "", "m"], ["y"]), Node("Relu", ["x"], ["m"]))));
        Assert.AreEqual(0, g.UseCount(""));
        Assert.HasCount(1, g.GetConsumers("m"));
    }

    [TestMethod]
    public void Attributes_AreReadWithFallbacks()
    {
        var proto = Node("Conv", ["x", "w"], ["y"]);
        proto.Attribute.Add(new AttributeProto { Name = "group", I = 4, Type = AttributeProto.Types.AttributeType.Int });
        proto.Attribute.Add(new AttributeProto { Name = "alpha", F = 0.5f, Type = AttributeProto.Types.AttributeType.Float });
        proto.Attribute.Add(new AttributeProto { Name = "auto_pad", S = Google.Protobuf.ByteString.CopyFromUtf8("SAME_UPPER") });
        var ints = new AttributeProto { Name = "strides" };
        ints.Ints.Add([2, 2]);
        proto.Attribute.Add(ints);
        var n = Graph.Open(ModelOf(GraphOf("main", ["x", "w"], ["y"], proto))).Nodes[0];
        Assert.IsTrue(n.Is("Conv"));
        Assert.AreEqual(4, n.GetInt("group", 1));
        Assert.AreEqual(1, n.GetInt("missing", 1));
        Assert.AreEqual(0.5f, n.GetFloat("alpha", 1f));
        Assert.AreEqual("SAME_UPPER", n.GetString("auto_pad"));
        CollectionAssert.AreEqual(new long[] { 2, 2 }, n.GetInts("strides")!.ToArray());
        Assert.IsNull(n.GetInts("pads"));
    }

    [TestMethod]
    public void ANodeOfAnotherDomain_IsNotTheDefaultOp()
    {
        var proto = Node("Conv", ["x"], ["y"]);
        proto.Domain = "com.microsoft";
        var n = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"], proto))).Nodes[0];
        Assert.IsFalse(n.Is("Conv"));
        Assert.AreEqual("com.microsoft", n.Domain);
    }
}
