using CompressTasks.Passes.Fusion;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseMatMulAddTests
{
    private static readonly FuseMatMulAdd Pass = new();

    [TestMethod]
    [DataRow(new long[] { 5 }, true)]
    [DataRow(new long[] { 1, 5 }, true)]
    [DataRow(new long[] { 4, 5 }, false)]
    public void WhenMatrixTimesWeightPlusBias_ItBecomesGemmOnlyIfBroadcastingAllows(long[] biasShape, bool fuses)
    {
        var m = new TestModels().Input("x", 4, 3).Output("z", 4, 5).Weight("B", [3, 5], 1).Weight("c", biasShape, 2);
        m.Node("MatMul", ["x", "B"], ["y"]).Node("Add", ["y", "c"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(fuses ? 1 : 0, result.Rewritten);
        Assert.AreEqual(fuses ? "Gemm" : "MatMul", model.Proto.Graph.Node[0].OpType);
        Assert.AreEqual("z", model.Proto.Graph.Node[^1].Output[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenInputIsBatched_MatMulStays()
    {
        var m = new TestModels().Input("x", 2, 4, 3).Output("z", 2, 4, 5).Weight("B", [3, 5], 1).Weight("c", [5], 2);
        m.Node("MatMul", ["x", "B"], ["y"]).Node("Add", ["y", "c"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes[0], "matrix");
    }

    [TestMethod]
    public void WhenMatMulOutputIsAlsoRead_MatMulStays()
    {
        var m = new TestModels().Input("x", 4, 3).Output("z", 4, 5).Output("y", 4, 5).Weight("B", [3, 5], 1).Weight("c", [5], 2);
        m.Node("MatMul", ["x", "B"], ["y"]).Node("Add", ["y", "c"], ["z"]);
        using var model = m.Build();
        Assert.AreEqual(0, PassHarness.Run(model, Pass).Rewritten);
    }

    [TestMethod]
    public void WhenLayersAreChained_RankIsKnownThroughGemmAndRelu()
    {
        var m = new TestModels().Input("x", 4, 3).Output("z", 4, 2)
            .Weight("B1", [3, 5], 1).Weight("c1", [5], 2).Weight("B2", [5, 2], 3).Weight("c2", [2], 4);
        m.Node("MatMul", ["x", "B1"], ["y1"]).Node("Add", ["y1", "c1"], ["a1"]).Node("Relu", ["a1"], ["r1"]);
        m.Node("MatMul", ["r1", "B2"], ["y2"]).Node("Add", ["y2", "c2"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(2, PassHarness.Run(model, Pass).Rewritten);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }
}
