using CompressTasks.Passes.Fusion;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseConvMulAddTests
{
    private static readonly FuseConvMulAdd Pass = new();

    // x[1,3,8,8] ─Conv(W[4,3,3,3], b?)─▶ y ─Mul(m)─▶ s ─Add(a)─▶ z
    private static TestModels ConvMulAdd(bool bias, long[] mulShape, long[] addShape, long[]? outShape = null)
    {
        var m = new TestModels().Input("x", 1, 3, 8, 8).Output("z", outShape ?? [1, 4, 6, 6]).Weight("W", [4, 3, 3, 3], 1);
        if (bias) m.Weight("b", [4], 2);
        m.Weight("m", mulShape, 3, 0.5f, 2).Weight("a", addShape, 4);
        m.Node("Conv", bias ? ["x", "W", "b"] : ["x", "W"], ["y"]).Node("Mul", ["m", "y"], ["s"]).Node("Add", ["s", "a"], ["z"]);
        return m;
    }

    [TestMethod]
    [DataRow(true, new long[] { 1, 4, 1, 1 }, new long[] { 4, 1, 1 })]
    [DataRow(false, new long[] { 4, 1, 1 }, new long[] { 1, 4, 1, 1 })]
    [DataRow(false, new long[0], new long[] { 1 })]
    public void WhenConvIsFollowedByPerChannelMulAndAdd_BothFold(bool bias, long[] mulShape, long[] addShape)
    {
        using var model = ConvMulAdd(bias, mulShape, addShape).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"mul [{string.Join(",", mulShape)}], add [{string.Join(",", addShape)}]: {result.Rewritten} folded");
        Assert.AreEqual(2, result.Rewritten);
        Assert.AreEqual("Conv", model.Proto.Graph.Node.Single().OpType);
        Assert.AreEqual("z", model.Proto.Graph.Node.Single().Output[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("spatial")]
    [DataRow("widening")]
    [DataRow("shared")]
    [DataRow("output")]
    public void WhenTheOperandOrConvCannotTakeIt_NothingChanges(string how)
    {
        var m = how switch
        {
            "spatial" => ConvMulAdd(true, [1, 1, 1, 6], [1, 1, 6, 1]),
            "widening" => ConvMulAdd(true, [2, 4, 1, 1], [2, 4, 1, 1], [2, 4, 6, 6]),
            _ => ConvMulAdd(true, [1, 4, 1, 1], [1, 4, 1, 1]),
        };
        if (how == "shared") m.Node("Conv", ["x", "W"], ["w"]).Output("w", 1, 4, 6, 6);
        if (how == "output") m.Output("y", 1, 4, 6, 6);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{how}: {string.Join("; ", result.Notes)}");
        Assert.AreEqual(0, result.Rewritten, how);
        Assert.IsTrue(result.Skipped >= 1);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
