using CompressTasks.Passes.Fusion;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseTransposesTests
{
    private static readonly FuseTransposes Pass = new();

    // x[2,3,4] ─Relu─▶ a ─Transpose(p)─▶ y ─Transpose(q)─▶ b ─Neg─▶ z
    private static TestModels Pair(long[]? p, long[]? q, long[] outShape)
    {
        var m = new TestModels().Input("x", 2, 3, 4).Output("z", outShape);
        m.Node("Relu", ["x"], ["a"]);
        m.Node("Transpose", ["a"], ["y"], p is null ? [] : [Ints("perm", p)]);
        m.Node("Transpose", ["y"], ["b"], q is null ? [] : [Ints("perm", q)]);
        m.Node("Neg", ["b"], ["z"]);
        return m;
    }

    [TestMethod]
    public void WhenTransposesCancel_BothAreRemoved()
    {
        using var model = Pair([1, 2, 0], [2, 0, 1], [2, 3, 4]).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"nodes after: {string.Join(", ", model.Proto.Graph.Node.Select(n => n.OpType))}");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow(new long[] { 1, 0, 2 }, new long[] { 0, 2, 1 }, new long[] { 3, 4, 2 })]
    [DataRow(null, new long[] { 1, 0, 2 }, new long[] { 3, 4, 2 })]
    [DataRow(new long[] { 2, 0, 1 }, null, new long[] { 3, 2, 4 })]
    public void WhenTransposesCompose_OneTransposeRemains(long[]? p, long[]? q, long[] outShape)
    {
        using var model = Pair(p, q, outShape).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        var perm = model.Proto.Graph.Node[1].Attribute.Single().Ints;
        Console.WriteLine($"composed perm: [{string.Join(",", perm)}]");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Transpose", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenCancellingPairEndsInAGraphOutput_AnIdentityKeepsTheName()
    {
        var m = new TestModels().Input("x", 2, 3, 4).Output("z", 2, 3, 4);
        m.Node("Relu", ["x"], ["a"]).Node("Transpose", ["a"], ["y"], Ints("perm", 1, 0, 2)).Node("Transpose", ["y"], ["z"], Ints("perm", 1, 0, 2));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        PassHarness.Run(model, Pass);
        CollectionAssert.AreEqual(new[] { "Relu", "Identity" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual("z", model.Proto.Graph.Node[1].Output[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("reader")]
    [DataRow("output")]
    public void WhenIntermediateIsSharedOrAGraphOutput_NothingChanges(string how)
    {
        var m = Pair([1, 0, 2], [1, 0, 2], [2, 3, 4]);
        if (how == "reader") m.Node("Abs", ["y"], ["w"]).Output("w", 3, 2, 4);
        else m.Output("y", 3, 2, 4);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(1, result.Skipped);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenRankIsUnknownAndPermsAreMissing_NothingChanges()
    {
        var m = new TestModels().Output("z", 2, 3, 4);
        m.Graph.Input.Add(new Model.Onnx.ValueInfoProto { Name = "x", Type = new Model.Onnx.TypeProto { TensorType = new() { ElemType = 1 } } });
        m.Node("Transpose", ["x"], ["y"]).Node("Transpose", ["y"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes[0], "rank");
    }

    [TestMethod]
    public void WhenPairIsInsideAnIfBranch_ItIsFusedThere()
    {
        var m = new TestModels().Input("x", 2, 3, 4).Output("z", 2, 3, 4);
        m.Graph.Initializer.Add(new Model.Onnx.TensorProto { Name = "cond", DataType = 9, RawData = Google.Protobuf.ByteString.CopyFrom(1) });
        var then = new Model.Onnx.GraphProto { Name = "then" };
        then.Output.Add(ValueInfo("t", [2, 3, 4]));
        m.Node(then, "Transpose", ["x"], ["t1"], Ints("perm", 2, 1, 0)).Node(then, "Transpose", ["t1"], ["t2"], Ints("perm", 2, 1, 0)).Node(then, "Neg", ["t2"], ["t"]);
        var otherwise = new Model.Onnx.GraphProto { Name = "else" };
        otherwise.Output.Add(ValueInfo("e", [2, 3, 4]));
        m.Node(otherwise, "Abs", ["x"], ["e"]);
        m.Node("If", ["cond"], ["z"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(1, result.Rewritten);
        Assert.AreEqual(1, model.Proto.Graph.Node[0].Attribute[0].G.Node.Count);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }
}
