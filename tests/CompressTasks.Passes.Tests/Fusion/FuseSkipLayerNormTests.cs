using CompressTasks.Passes.Fusion;
using CompressTasks.Passes.Infrastructure;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseSkipLayerNormTests
{
    private static readonly FuseSkipLayerNorm Pass = new();

    private static PassArguments Domain(string domain) => new(Pass.Descriptor, [new("domain", domain)]);

    // x[2,5,8] ─MatMul(W)─▶ m ─Add(bias)─▶ b ─Add(r)─▶ s ─LayerNormalization─▶ y ─Neg─▶ z   (a post-LN transformer block)
    private static TestModels Block(bool bias = true, long[]? skipShape = null, long axis = -1, bool symbolic = false, bool sumReadElsewhere = false,
        bool biasIsOutput = false, long[]? xShape = null)
    {
        xShape ??= [2, 5, 8];
        var m = new TestModels(17).Input("x", xShape).Input("r", skipShape ?? xShape).Output("z", xShape)
            .Weight("W", [8, 8], 1).Weight("bias", [8], 2).Weight("gamma", axis == -1 ? [8] : xShape[^2..], 3, 0.5f, 2).Weight("beta", axis == -1 ? [8] : xShape[^2..], 4);
        if (symbolic)
            foreach (var value in m.Graph.Input.Concat(m.Graph.Output))
                for (int d = 0; d < 2; d++) value.Type.TensorType.Shape.Dim[d].DimParam = d == 0 ? "batch" : "sequence";
        m.Node("MatMul", ["x", "W"], ["m"]);
        if (bias) m.Node("Add", ["m", "bias"], ["b"]);
        m.Node("Add", [bias ? "b" : "m", "r"], ["s"]).Node("LayerNormalization", ["s", "gamma", "beta"], ["y"], Int("axis", axis), Float("epsilon", 1e-5f));
        if (sumReadElsewhere) m.Node("Mul", ["s", "y"], ["y2"]).Node("Neg", ["y2"], ["z"]);
        else m.Node("Neg", ["y"], ["z"]);
        if (biasIsOutput) m.Output("b", xShape);
        return m;
    }

    [TestMethod]
    [DataRow("bias", true, false, false)]
    [DataRow("no bias", false, false, false)]
    [DataRow("named dims", true, true, false)]
    [DataRow("sum read elsewhere", true, false, true)]
    public void WhenAResidualAddFeedsLayerNorm_ItBecomesSkipLayerNormalization(string how, bool bias, bool symbolic, bool sumReadElsewhere)
    {
        using var model = Block(bias, symbolic: symbolic, sumReadElsewhere: sumReadElsewhere).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Domain("com.microsoft"));
        var ops = model.Proto.Graph.Node.Select(n => n.OpType).ToArray();
        Console.WriteLine($"{how}: {string.Join(", ", ops)}; {string.Join("; ", result.Notes)}");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(sumReadElsewhere ? new[] { "MatMul", "SkipLayerNormalization", "Mul", "Neg" } : ["MatMul", "SkipLayerNormalization", "Neg"], ops);
        var fused = model.Proto.Graph.Node[1];
        Assert.AreEqual("com.microsoft", fused.Domain);
        Assert.AreEqual(bias ? 5 : 4, fused.Input.Count);
        Assert.AreEqual(sumReadElsewhere ? "s" : null, fused.Output.Count > 3 ? fused.Output[3] : null);
        Assert.IsTrue(model.Proto.OpsetImport.Any(o => o.Domain == "com.microsoft"));
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenTheBiasSumIsAGraphOutput_TheBiasAddStaysAndTheRestFuses()
    {
        using var model = Block(biasIsOutput: true).Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Domain("com.microsoft")).Rewritten);
        CollectionAssert.AreEqual(new[] { "MatMul", "Add", "SkipLayerNormalization", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual(4, model.Proto.Graph.Node[2].Input.Count, "no bias input: the bias Add's sum must stay visible");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("standard domain", "com.microsoft")]
    [DataRow("skip broadcasts", "same shape")]
    [DataRow("rank 2", "rank-3")]
    [DataRow("two normalized axes", "last axis")]
    public void WhenFusionIsNotAllowed_NothingChangesAndTheReasonIsGiven(string how, string reason)
    {
        var m = how switch
        {
            "skip broadcasts" => Block(skipShape: [1, 5, 8]),
            "rank 2" => Block(xShape: [5, 8]),
            "two normalized axes" => Block(axis: -2),
            _ => Block(),
        };
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Domain(how == "standard domain" ? "standard" : "com.microsoft"));
        Console.WriteLine($"{how}: {string.Join("; ", result.Notes)}");
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes.Single(), reason);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
