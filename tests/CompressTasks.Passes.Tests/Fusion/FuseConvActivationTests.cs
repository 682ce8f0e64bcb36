using CompressTasks.Passes.Fusion;
using CompressTasks.Passes.Infrastructure;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseConvActivationTests
{
    private static readonly FuseConvActivation Pass = new();

    private static PassArguments Domain(string domain) => new(Pass.Descriptor, [new("domain", domain)]);

    // x[1,3,8,8] ─Conv(W, B; pads 1)─▶ c ─activation─▶ y ─Neg─▶ z
    private static TestModels ConvThen(string activation, long opset = 13, bool convIsOutput = false, bool secondReader = false)
    {
        var m = new TestModels(opset).Input("x", 1, 3, 8, 8).Output("z", 1, 4, 8, 8).Weight("W", [4, 3, 3, 3], 1).Weight("B", [4], 2);
        m.Graph.Initializer.Add(Tensor("lo", [], [-0.3f]));
        m.Graph.Initializer.Add(Tensor("hi", [], [0.6f]));
        m.Node("Conv", ["x", "W", "B"], ["c"], Ints("pads", 1, 1, 1, 1), Ints("kernel_shape", 3, 3));
        switch (activation)
        {
            case "LeakyRelu": m.Node("LeakyRelu", ["c"], ["y"], Float("alpha", 0.2f)); break;
            case "HardSigmoid": m.Node("HardSigmoid", ["c"], ["y"], Float("alpha", 0.3f), Float("beta", 0.4f)); break;
            case "Clip" when opset < 11: m.Node("Clip", ["c"], ["y"], Float("min", -0.3f), Float("max", 0.6f)); break;
            case "Clip": m.Node("Clip", ["c", "lo", "hi"], ["y"]); break;
            case "Clip-max-only": m.Node("Clip", ["c", "", "hi"], ["y"]); break;
            default: m.Node(activation, ["c"], ["y"]); break;
        }
        if (secondReader) m.Node("Add", ["y", "c"], ["y2"]).Node("Neg", ["y2"], ["z"]);
        else m.Node("Neg", ["y"], ["z"]);
        if (convIsOutput) m.Output("c", 1, 4, 8, 8);
        return m;
    }

    [TestMethod]
    [DataRow("Relu", 13L)]
    [DataRow("Sigmoid", 13L)]
    [DataRow("Tanh", 13L)]
    [DataRow("LeakyRelu", 13L)]
    [DataRow("HardSigmoid", 13L)]
    [DataRow("Clip", 13L)]
    [DataRow("Clip", 9L)]
    [DataRow("Clip-max-only", 13L)]
    public void WhenAnActivationFollowsConv_ItBecomesFusedConv(string activation, long opset)
    {
        using var model = ConvThen(activation, opset).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Domain("com.microsoft"));
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "FusedConv", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        var fused = model.Proto.Graph.Node[0];
        Assert.AreEqual("com.microsoft", fused.Domain);
        Assert.AreEqual(activation.Split('-')[0], fused.Attribute.Single(a => a.Name == "activation").S.ToStringUtf8());
        Assert.IsTrue(fused.Attribute.Any(a => a.Name == "pads"), "the Conv's attributes are kept");
        Assert.AreEqual(opset, model.Proto.OpsetImport.Single(o => o.Domain == "").Version);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("standard domain", "com.microsoft")]
    [DataRow("conv output is a graph output", "graph output")]
    public void WhenFusionIsNotAllowed_NothingChangesAndTheReasonIsGiven(string how, string reason)
    {
        using var model = ConvThen("Relu", convIsOutput: how.StartsWith("conv", StringComparison.Ordinal)).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Domain(how == "standard domain" ? "standard" : "com.microsoft"));
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes.Single(), reason);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    // The Conv's output is read by the activation and by an Add: fusing would lose the pre-activation value.
    [TestMethod]
    public void WhenTheConvOutputHasAnotherReader_NothingMatches()
    {
        using var model = ConvThen("Relu", secondReader: true).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Domain("com.microsoft"));
        Assert.AreEqual((0, 0), (result.Matched, result.Rewritten));
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
