using System.Runtime.InteropServices;
using CompressTasks.Passes.Fusion;
using CompressTasks.Passes.Infrastructure;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseLayerNormTests
{
    private static readonly FuseLayerNorm Pass = new();

    private static Model.Onnx.TensorProto Scalar(string name, float value) =>
        new() { Name = name, DataType = 1, RawData = ByteString.CopyFrom(BitConverter.GetBytes(value)) };

    // x[2,5,8] ─Relu─▶ a ─(decomposed LayerNorm over the last axis)─▶ y ─Neg─▶ z
    private static TestModels Decomposed(long opset = 17, string square = "Pow", string shift = "bias", long[]? gammaShape = null)
    {
        var m = new TestModels(opset).Input("x", 2, 5, 8).Output("z", 2, 5, 8).Weight("gamma", gammaShape ?? [8], 1, 0.5f, 2).Weight("beta", [8], 2);
        m.Graph.Initializer.Add(Scalar("two", 2f));
        m.Graph.Initializer.Add(Scalar("eps", 1e-5f));
        var axes = new Model.Onnx.TensorProto { Name = "axes", DataType = 7, RawData = ByteString.CopyFrom(BitConverter.GetBytes(-1L)) };
        axes.Dims.Add(1);
        m.Graph.Initializer.Add(axes);
        Model.Onnx.AttributeProto[] axesAttribute = opset >= 18 ? [] : [Ints("axes", -1)];
        string[] Reduce(string input) => opset >= 18 ? [input, "axes"] : [input];
        m.Node("Relu", ["x"], ["a"]).Node("ReduceMean", Reduce("a"), ["mu"], axesAttribute).Node("Sub", ["a", "mu"], ["d"]);
        m.Node(square, square == "Pow" ? ["d", "two"] : ["d", "d"], ["d2"]).Node("ReduceMean", Reduce("d2"), ["v"], axesAttribute);
        m.Node("Add", ["v", "eps"], ["ve"]).Node("Sqrt", ["ve"], ["sd"]).Node("Div", ["d", "sd"], ["n"]).Node("Mul", ["n", "gamma"], ["g"]);
        if (shift == "bias") m.Node("Add", ["g", "beta"], ["y"]);
        else m.Node("Add", ["g", "a"], ["y"]);
        m.Node("Neg", ["y"], ["z"]);
        return m;
    }

    [TestMethod]
    [DataRow(17L, "Pow", "bias")]
    [DataRow(17L, "Mul", "bias")]
    [DataRow(17L, "Pow", "residual")]
    [DataRow(18L, "Pow", "bias")]
    public void WhenLayerNormIsDecomposed_ItBecomesOneNode(long opset, string square, string shift)
    {
        using var model = Decomposed(opset, square, shift).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        var ops = model.Proto.Graph.Node.Select(n => n.OpType).ToArray();
        Console.WriteLine($"opset {opset}, {square}, {shift}: {string.Join(", ", ops)}");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(shift == "bias" ? new[] { "Relu", "LayerNormalization", "Neg" } : ["Relu", "LayerNormalization", "Add", "Neg"], ops);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    // ONNX Runtime's contrib LayerNormalization (ONNX domain, versions 1–16) runs below opset 17; the opset stays.
    [TestMethod]
    [DataRow(13L)]
    [DataRow(11L)]
    public void WhenOnnxRuntimeIsTheTargetBelowOpset17_ItsContribLayerNormIsUsed(long opset)
    {
        using var model = Decomposed(opset).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, new PassArguments(Pass.Descriptor, [new("domain", "com.microsoft")]));
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "LayerNormalization", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual(opset, model.Proto.OpsetImport.Single(o => o.Domain == "").Version);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("opset 13", "opset 17")]
    [DataRow("gamma broadcasts", "shaped like")]
    [DataRow("graph output", "graph output")]
    public void WhenFusionIsNotAllowed_NothingChangesAndTheReasonIsGiven(string how, string reason)
    {
        var m = how switch
        {
            "opset 13" => Decomposed(13),
            "gamma broadcasts" => Decomposed(gammaShape: [5, 8]),
            _ => Decomposed(),
        };
        if (how == "graph output") m.Output("d", 2, 5, 8);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{how}: {string.Join("; ", result.Notes)}");
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes.Single(), reason);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
