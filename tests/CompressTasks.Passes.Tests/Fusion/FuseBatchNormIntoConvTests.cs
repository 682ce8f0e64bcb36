using CompressTasks.Model;
using CompressTasks.Passes.Fusion;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseBatchNormIntoConvTests
{
    private static readonly FuseBatchNormIntoConv Pass = new();

    // x[1,3,8,8] ─Conv(W[4,3,3,3], b?)─▶ y ─BN─▶ z
    private static TestModels ConvBn(bool bias, long opset = 13, long ir = 8)
    {
        var m = new TestModels(opset, ir).Input("x", 1, 3, 8, 8).Output("z", 1, 4, 6, 6)
            .Weight("W", [4, 3, 3, 3], 1);
        if (bias) m.Weight("b", [4], 2);
        m.Weight("gamma", [4], 3, 0.5f, 2).Weight("beta", [4], 4).Weight("mean", [4], 5).Weight("var", [4], 6, 0.1f, 3);
        m.Node("Conv", bias ? ["x", "W", "b"] : ["x", "W"], ["y"]);
        m.Node("BatchNormalization", ["y", "gamma", "beta", "mean", "var"], ["z"], Float("epsilon", 1e-3f));
        return m;
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenConvFeedsBatchNorm_BatchNormIsFoldedAndOutputsAgree(bool bias)
    {
        using var model = ConvBn(bias).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);

        Assert.AreEqual(1, result.Rewritten);
        var graph = model.Proto.Graph;
        Assert.AreEqual(1, graph.Node.Count);
        Assert.AreEqual("Conv", graph.Node[0].OpType);
        Assert.AreEqual("z", graph.Node[0].Output[0]);
        Assert.AreEqual(3, graph.Node[0].Input.Count);
        Assert.AreEqual(2, graph.Initializer.Count, "BN parameters are dropped, W and the bias remain");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenModelIsIrVersion3_NewBiasIsDeclaredAsGraphInputAndDroppedParametersAreUndeclared()
    {
        var m = ConvBn(bias: false, opset: 8, ir: 3);
        foreach (var t in m.Graph.Initializer) m.Graph.Input.Add(ValueInfo(t.Name, [.. t.Dims]));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        PassHarness.Run(model, Pass);
        var inputs = model.Proto.Graph.Input.Select(i => i.Name).ToHashSet();
        foreach (var t in model.Proto.Graph.Initializer) Assert.IsTrue(inputs.Contains(t.Name), $"{t.Name} must be a graph input in IR 3");
        Assert.AreEqual(model.Proto.Graph.Initializer.Count + 1, inputs.Count);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenWeightIsShared_NothingChanges()
    {
        var m = ConvBn(bias: true);
        m.Graph.Output.Add(ValueInfo("y2", [1, 4, 6, 6]));
        m.Node("Conv", ["x", "W", "b"], ["y2"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(1, result.Skipped);
        StringAssert.Contains(result.Notes[0], "shared");
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenConvOutputIsAlsoAGraphOutput_NothingChanges()
    {
        var m = ConvBn(bias: true);
        m.Graph.Output.Add(ValueInfo("y", [1, 4, 6, 6]));
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(2, model.Proto.Graph.Node.Count);
    }

    [TestMethod]
    public void WhenBatchNormIsInTrainingMode_NothingChanges()
    {
        var m = ConvBn(bias: true, opset: 15);
        m.Graph.Node[1].Attribute.Add(Int("training_mode", 1));
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes[0], "inference mode");
    }

    [TestMethod]
    public void WhenPatternIsInsideAnIfBranch_ItIsFoldedThere()
    {
        // if (cond) { z = BN(Conv(x, W)) } else { z = Conv(x, W2) }: weights live in the branches.
        var m = new TestModels().Input("x", 1, 3, 8, 8).Output("z", 1, 4, 6, 6);
        m.Graph.Initializer.Add(new Model.Onnx.TensorProto { Name = "cond", DataType = 9, RawData = Google.Protobuf.ByteString.CopyFrom(1) });
        var then = new Model.Onnx.GraphProto { Name = "then" };
        then.Output.Add(ValueInfo("zt", [1, 4, 6, 6]));
        m.Weight(then, "Wt", [4, 3, 3, 3], 1).Weight(then, "g", [4], 3, 0.5f, 2).Weight(then, "b", [4], 4).Weight(then, "mu", [4], 5).Weight(then, "v", [4], 6, 0.1f, 3);
        m.Node(then, "Conv", ["x", "Wt"], ["yt"]);
        m.Node(then, "BatchNormalization", ["yt", "g", "b", "mu", "v"], ["zt"]);
        var otherwise = new Model.Onnx.GraphProto { Name = "else" };
        otherwise.Output.Add(ValueInfo("ze", [1, 4, 6, 6]));
        m.Weight(otherwise, "We", [4, 3, 3, 3], 7);
        m.Node(otherwise, "Conv", ["x", "We"], ["ze"]);
        m.Node("If", ["cond"], ["z"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(1, result.Rewritten);
        Assert.AreEqual(1, model.Proto.Graph.Node[0].Attribute.First(a => a.Name == "then_branch").G.Node.Count);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }
}
