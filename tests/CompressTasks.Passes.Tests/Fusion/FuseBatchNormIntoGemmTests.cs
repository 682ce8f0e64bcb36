using CompressTasks.Passes.Fusion;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseBatchNormIntoGemmTests
{
    private static readonly FuseBatchNormIntoGemm Pass = new();

    // x[4,3] ─Gemm/MatMul(B)─▶ y[4,5] ─BN─▶ z
    private static TestModels LinearBn(string op, bool transB = false, bool bias = true, long[]? input = null)
    {
        input ??= [4, 3];
        var m = new TestModels().Input("x", input).Output("z", [.. input[..^1], 5])
            .Weight("B", transB ? [5, 3] : [3, 5], 1).Weight("C", [5], 2)
            .Weight("gamma", [5], 3, 0.5f, 2).Weight("beta", [5], 4).Weight("mean", [5], 5).Weight("var", [5], 6, 0.1f, 3);
        if (op == "Gemm")
            m.Node("Gemm", bias ? ["x", "B", "C"] : ["x", "B"], ["y"], Float("alpha", 0.5f), Float("beta", 2f), Int("transB", transB ? 1 : 0));
        else m.Node("MatMul", ["x", "B"], ["y"]);
        m.Node("BatchNormalization", ["y", "gamma", "beta", "mean", "var"], ["z"], Float("epsilon", 1e-3f));
        return m;
    }

    [TestMethod]
    [DataRow("Gemm", false, true)]
    [DataRow("Gemm", true, true)]
    [DataRow("Gemm", false, false)]
    [DataRow("MatMul", false, false)]
    public void WhenLinearFeedsBatchNorm_ItFoldsIntoOneGemm(string op, bool transB, bool bias)
    {
        using var model = LinearBn(op, transB, bias).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{op} transB={transB} bias={bias}: {result.Rewritten} folded, nodes {string.Join(", ", model.Proto.Graph.Node.Select(n => n.OpType))}");
        Assert.AreEqual(1, result.Rewritten);
        Assert.AreEqual("Gemm", model.Proto.Graph.Node.Single().OpType);
        Assert.AreEqual("z", model.Proto.Graph.Node.Single().Output[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("batched")]
    [DataRow("shared")]
    [DataRow("output")]
    [DataRow("training")]
    public void WhenFoldingIsNotSafe_NothingChanges(string how)
    {
        var m = how == "batched" ? LinearBn("MatMul", input: [2, 4, 3]) : LinearBn("Gemm");
        if (how == "shared") m.Node("Gemm", ["x", "B"], ["w"]).Output("w", 4, 5);
        if (how == "output") m.Output("y", 4, 5);
        if (how == "training") m.Graph.Node[^1].Attribute.Add(Int("training_mode", 1));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{how}: {string.Join("; ", result.Notes)}");
        Assert.AreEqual(0, result.Rewritten, how);
        Assert.AreEqual(1, result.Skipped);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
