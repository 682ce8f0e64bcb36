using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Folding;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Folding;

[TestClass]
public sealed class LiftConstantsTests
{
    private static readonly LiftConstants Pass = new();

    private static AttributeProto Value(float[] values) =>
        new() { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Tensor("", [values.Length], values) };

    [TestMethod]
    public void WhenAConstantNodeFeedsNodes_ItBecomesAnInitializerTheyRead()
    {
        var m = new TestModels().Input("x", 2, 4).Output("z", 2, 4);
        m.Node("Constant", [], ["c"], Value([1, 2, 3, 4])).Node("Mul", ["x", "c"], ["y"]).Node("Add", ["y", "c"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass).Rewritten);
        var graph = model.Proto.Graph;
        CollectionAssert.AreEqual(new[] { "Mul", "Add" }, graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual(1, graph.Initializer.Count);
        Assert.IsTrue(graph.Node.All(n => n.Input.Contains(graph.Initializer[0].Name)));
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenTheConstantIsAGraphOutput_ItStaysANode()
    {
        var m = new TestModels().Input("x", 2, 4).Output("z", 2, 4).Output("c", 4);
        m.Node("Constant", [], ["c"], Value([1, 2, 3, 4])).Node("Mul", ["x", "c"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(2, model.Proto.Graph.Node.Count);
    }

    [TestMethod]
    public void WhenASubgraphReadsTheConstant_TheSubgraphReadsTheInitializer()
    {
        var m = new TestModels().Input("x", 2, 4).Output("z", 2, 4);
        m.Graph.Initializer.Add(new TensorProto { Name = "cond", DataType = 9, RawData = Google.Protobuf.ByteString.CopyFrom(1) });
        var then = new GraphProto { Name = "then" };
        then.Output.Add(ValueInfo("t", [2, 4]));
        m.Node(then, "Add", ["x", "c"], ["t"]);
        var otherwise = new GraphProto { Name = "else" };
        otherwise.Output.Add(ValueInfo("e", [2, 4]));
        m.Node(otherwise, "Sub", ["x", "c"], ["e"]);
        m.Node("Constant", [], ["c"], Value([1, 2, 3, 4]));
        m.Node("If", ["cond"], ["z"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass).Rewritten);
        var lifted = model.Proto.Graph.Initializer.Single(t => t.Name != "cond").Name;
        Assert.AreEqual(lifted, model.Proto.Graph.Node[0].Attribute[0].G.Node[0].Input[1]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }
}
