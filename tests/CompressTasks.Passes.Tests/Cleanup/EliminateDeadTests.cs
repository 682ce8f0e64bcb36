using CompressTasks.Passes.Cleanup;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Cleanup;

[TestClass]
public sealed class EliminateDeadTests
{
    private static readonly EliminateDead Pass = new();

    [TestMethod]
    public void WhenNodesAndWeightsReachNoOutput_TheyAreRemoved()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Weight("w", [2, 3], 1).Weight("unused", [5], 2);
        m.Node("Add", ["x", "w"], ["z"]).Node("Mul", ["x", "w"], ["dead1"]).Node("Relu", ["dead1"], ["dead2"]);
        m.Graph.ValueInfo.Add(ValueInfo("dead2", [2, 3]));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(3, result.Rewritten, "two nodes and one initializer");
        Assert.AreEqual(1, model.Proto.Graph.Node.Count);
        CollectionAssert.AreEqual(new[] { "w" }, model.Proto.Graph.Initializer.Select(t => t.Name).ToArray());
        Assert.AreEqual(0, model.Proto.Graph.ValueInfo.Count);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenAWeightIsReadOnlyInsideASubgraph_ItIsKept()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Weight("w", [2, 3], 1);
        m.Graph.Initializer.Add(new Model.Onnx.TensorProto { Name = "cond", DataType = 9, RawData = Google.Protobuf.ByteString.CopyFrom(0) });
        var then = new Model.Onnx.GraphProto { Name = "then" };
        then.Output.Add(ValueInfo("t", [2, 3]));
        m.Node(then, "Add", ["x", "w"], ["t"]);
        var otherwise = new Model.Onnx.GraphProto { Name = "else" };
        otherwise.Output.Add(ValueInfo("e", [2, 3]));
        m.Node(otherwise, "Sub", ["x", "w"], ["e"]).Node(otherwise, "Neg", ["x"], ["unused_in_branch"]);
        m.Node("If", ["cond"], ["z"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(1, result.Rewritten, "only the dead Neg in the else branch");
        Assert.IsTrue(model.Proto.Graph.Initializer.Any(t => t.Name == "w"));
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenInitializerIsAlsoAGraphInputFromIr4_ItIsKept()
    {
        var m = new TestModels().Input("x", 2, 3).Input("default", 5).Output("z", 2, 3);
        m.Weight("default", [5], 2);
        m.Node("Relu", ["x"], ["z"]);
        using var model = m.Build();
        PassHarness.Run(model, Pass);
        Assert.AreEqual(1, model.Proto.Graph.Initializer.Count);
        Assert.AreEqual(2, model.Proto.Graph.Input.Count);
    }

    // Before IR 4 every initializer is listed as an input too; an unread one is no interface and goes with its entry.
    [TestMethod]
    public void WhenInitializerIsAlsoAGraphInputBeforeIr4_BothGo()
    {
        var m = new TestModels(8, irVersion: 3).Input("x", 2, 3).Input("default", 5).Output("z", 2, 3);
        m.Weight("default", [5], 2);
        m.Node("Relu", ["x"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass).Rewritten);
        Assert.AreEqual(0, model.Proto.Graph.Initializer.Count);
        Assert.AreEqual("x", model.Proto.Graph.Input.Single().Name);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }
}
