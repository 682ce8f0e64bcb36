using CompressTasks.Passes.Cleanup;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Cleanup;

[TestClass]
public sealed class EliminateIdentityTests
{
    private static readonly EliminateIdentity Pass = new();

    [TestMethod]
    public void WhenIdentitySitsBetweenNodes_ItIsRemovedAndReadersRewired()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Node("Relu", ["x"], ["a"]).Node("Identity", ["a"], ["b"]).Node("Dropout", ["b"], ["c"]).Node("Neg", ["c"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(2, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual("a", model.Proto.Graph.Node[1].Input[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenIdentityProducesAGraphOutput_TheOutputNameIsKept()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Node("Relu", ["x"], ["a"]).Node("Identity", ["a"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        PassHarness.Run(model, Pass);
        Assert.AreEqual(1, model.Proto.Graph.Node.Count);
        Assert.AreEqual("z", model.Proto.Graph.Node[0].Output[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenIdentityConnectsGraphInputToGraphOutput_ItStays()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Node("Identity", ["x"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(1, result.Skipped);
        Assert.AreEqual(1, model.Proto.Graph.Node.Count);
    }

    [TestMethod]
    public void WhenDropoutMaskIsUsed_ItStays()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3).Output("mask", 2, 3);
        m.Graph.Output[1].Type.TensorType.ElemType = 9;
        m.Node("Dropout", ["x"], ["z", "mask"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes[0], "mask");
    }

    [TestMethod]
    public void WhenIdentityOutputIsReadInsideASubgraph_TheSubgraphIsRewiredToo()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Graph.Initializer.Add(new Model.Onnx.TensorProto { Name = "cond", DataType = 9, RawData = Google.Protobuf.ByteString.CopyFrom(1) });
        var then = new Model.Onnx.GraphProto { Name = "then" };
        then.Output.Add(ValueInfo("t", [2, 3]));
        m.Node(then, "Neg", ["b"], ["t"]);
        var otherwise = new Model.Onnx.GraphProto { Name = "else" };
        otherwise.Output.Add(ValueInfo("e", [2, 3]));
        m.Node(otherwise, "Abs", ["b"], ["e"]);
        m.Node("Relu", ["x"], ["a"]).Node("Identity", ["a"], ["b"]);
        m.Node("If", ["cond"], ["z"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        PassHarness.Run(model, Pass);
        Assert.AreEqual(2, model.Proto.Graph.Node.Count);
        Assert.AreEqual("a", model.Proto.Graph.Node[1].Attribute[0].G.Node[0].Input[0], "the branch reads the Identity's input now");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }
}
