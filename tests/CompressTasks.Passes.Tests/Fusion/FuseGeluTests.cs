using CompressTasks.Passes.Fusion;
using CompressTasks.Passes.Infrastructure;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseGeluTests
{
    private static readonly FuseGelu Pass = new();

    private static Model.Onnx.TensorProto Scalar(string name, float value) =>
        new() { Name = name, DataType = 1, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) };

    // x[2,16] ─Relu─▶ a ─(erf GELU in one of three spellings)─▶ y ─Neg─▶ z
    private static TestModels Decomposed(string form, long opset = 20, float sqrt2 = 1.4142135f)
    {
        var m = new TestModels(opset).Input("x", 2, 16).Output("z", 2, 16);
        m.Graph.Initializer.Add(Scalar("sqrt2", sqrt2));
        m.Graph.Initializer.Add(Scalar("one", 1f));
        m.Graph.Initializer.Add(Scalar("half", 0.5f));
        m.Node("Relu", ["x"], ["a"]).Node("Div", ["a", "sqrt2"], ["s"]).Node("Erf", ["s"], ["e"]).Node("Add", ["e", "one"], ["p"]);
        switch (form)
        {
            case "x·p·½": m.Node("Mul", ["a", "p"], ["q"]).Node("Mul", ["q", "half"], ["y"]); break;
            case "(x·½)·p": m.Node("Mul", ["a", "half"], ["h"]).Node("Mul", ["h", "p"], ["y"]); break;
            case "x·(p·½)": m.Node("Mul", ["p", "half"], ["q"]).Node("Mul", ["a", "q"], ["y"]); break;
        }
        m.Node("Neg", ["y"], ["z"]);
        return m;
    }

    [TestMethod]
    [DataRow("x·p·½", "standard", 20L)]
    [DataRow("(x·½)·p", "standard", 20L)]
    [DataRow("x·(p·½)", "standard", 20L)]
    [DataRow("x·p·½", "com.microsoft", 13L)]
    public void WhenGeluIsSpelledOut_ItBecomesOneNode(string form, string domain, long opset)
    {
        using var model = Decomposed(form, opset).Build();
        var before = PassHarness.Bytes(model);
        var arguments = new PassArguments(Pass.Descriptor, [new("domain", domain)]);
        var result = PassHarness.Run(model, Pass, arguments);
        var ops = model.Proto.Graph.Node.Select(n => n.OpType).ToArray();
        Console.WriteLine($"{form} ({domain}, opset {opset}): {string.Join(", ", ops)}");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Gelu", "Neg" }, ops);
        Assert.AreEqual(domain == "standard" ? "" : "com.microsoft", model.Proto.Graph.Node[1].Domain);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("opset 13", "opset 20")]
    [DataRow("wrong constant", "")]
    [DataRow("graph output", "graph output")]
    public void WhenFusionIsNotAllowed_NothingChanges(string how, string reason)
    {
        var m = Decomposed("x·p·½", opset: how == "opset 13" ? 13 : 20, sqrt2: how == "wrong constant" ? 1.5f : 1.4142135f);
        if (how == "graph output") m.Output("p", 2, 16);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{how}: {string.Join("; ", result.Notes)}");
        Assert.AreEqual(0, result.Rewritten);
        if (reason.Length > 0) StringAssert.Contains(result.Notes.Single(), reason);
        else Assert.AreEqual(0, result.Notes.Count, "a different constant is simply not the pattern");
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
