using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Passes.Quantization;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Quantization;

[TestClass]
public sealed class ConvertWeightsToFloat16Tests
{
    private static readonly ConvertWeightsToFloat16 Pass = new();

    // Float16 keeps 11 significant bits: weights move by at most 2^-11 relative, outputs by about as much.
    private const double Rtol = 5e-3, Atol = 1e-3;

    private static TestModels TwoConvsSharingAWeight(long ir = 8)
    {
        var m = new TestModels(opset: ir < 4 ? 8 : 13, irVersion: ir).Input("x", 1, 3, 8, 8).Output("z", 1, 4, 6, 6)
            .Weight("W", [4, 3, 3, 3], 1).Weight("b", [4], 2);
        m.Node("Conv", ["x", "W", "b"], ["y1"]).Node("Conv", ["x", "W"], ["y2"]).Node("Add", ["y1", "y2"], ["z"]);
        if (ir < 4) foreach (var t in m.Graph.Initializer) m.Graph.Input.Add(ValueInfo(t.Name, [.. t.Dims]));
        return m;
    }

    [TestMethod]
    public void WhenWeightsAreConverted_StorageHalvesSharingStaysAndOutputsAgree()
    {
        using var model = TwoConvsSharingAWeight().Build();
        var before = PassHarness.Bytes(model);
        long bytesBefore = PassManager.CountBytes(model);
        var result = PassHarness.Run(model, Pass, new(Pass.Descriptor, [new("min-elements", 4)]));

        Assert.AreEqual(2, result.Rewritten, "W and b");
        Assert.AreEqual(bytesBefore / 2, PassManager.CountBytes(model));
        var graph = model.Proto.Graph;
        Assert.AreEqual(2, graph.Node.Count(n => n.OpType == "Cast"), "one Cast per weight, however many readers");
        Assert.IsTrue(graph.Initializer.All(t => t.DataType == 10));
        Assert.AreEqual(2, graph.Node.Count(n => n.OpType == "Conv" && n.Input[1] == "W"), "both convolutions still read the one W");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: Rtol, atol: Atol);
    }

    [TestMethod]
    [DataRow(1e6f)]
    [DataRow(-1e6f)]
    public void WhenAWeightIsOutsideFloat16sRange_WhateverItsSign_ItStaysFloat32(float extreme)
    {
        using var model = TwoConvsSharingAWeight().Build();
        var w = model.Proto.Graph.Initializer.Single(t => t.Name == "W");
        var values = MemoryMarshal.Cast<byte, float>(w.RawData.ToByteArray()).ToArray();
        values[7] = extreme;
        w.RawData = Google.Protobuf.ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));

        var result = PassHarness.Run(model, Pass, new(Pass.Descriptor, [new("min-elements", 4)]));
        Assert.AreEqual(1, model.Proto.Graph.Initializer.Single(t => t.Name == "W").DataType, "no ±inf weights");
        StringAssert.Contains(string.Join("\n", result.Notes), "outside float16's range");
    }

    [TestMethod]
    [DataRow("include", "W", "W")]
    [DataRow("include", "b", "b")]
    [DataRow("exclude", "W*", "b")]
    public void WhenNameGlobsNarrowTheSelection_OnlyThoseWeightsAreConverted(string parameter, string glob, string converted)
    {
        using var model = TwoConvsSharingAWeight().Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, new(Pass.Descriptor, [new("min-elements", 1), new(parameter, new[] { glob })]));

        Assert.AreEqual(1, result.Rewritten);
        var types = model.Proto.Graph.Initializer.ToDictionary(t => t.Name, t => t.DataType);
        Assert.AreEqual(10, types[converted + "_fp16"]);
        Assert.AreEqual(1, types[converted == "W" ? "b" : "W"], "the other weight stays float32");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: Rtol, atol: Atol);
    }

    [TestMethod]
    public void WhenWeightIsSmallerThanMinElements_ItStaysFloat32()
    {
        using var model = TwoConvsSharingAWeight().Build();
        var result = PassHarness.Run(model, Pass, new(Pass.Descriptor, [new("min-elements", 10)]));
        Assert.AreEqual(1, result.Rewritten, "only W (108 elements); b has 4");
        Assert.AreEqual(1, model.Proto.Graph.Initializer.Single(t => t.Name == "b").DataType);
    }

    [TestMethod]
    public void WhenModelIsIrVersion3_GraphInputsFollowTheInitializers()
    {
        using var model = TwoConvsSharingAWeight(ir: 3).Build();
        var before = PassHarness.Bytes(model);
        PassHarness.Run(model, Pass, new(Pass.Descriptor, [new("min-elements", 4)]));
        var inputs = model.Proto.Graph.Input.Select(i => i.Name).ToList();
        CollectionAssert.AreEquivalent(new[] { "x" }.Concat(model.Proto.Graph.Initializer.Select(t => t.Name)).ToArray(), inputs);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: Rtol, atol: Atol);
    }

    [TestMethod]
    public void WhenWeightIsAConstantNode_TheNodeHoldsFloat16AndACastFollows()
    {
        var m = new TestModels().Input("x", 2, 32).Output("z", 2, 32);
        m.Node("Constant", [], ["w"], new Model.Onnx.AttributeProto
        {
            Name = "value", Type = Model.Onnx.AttributeProto.Types.AttributeType.Tensor,
            T = Tensor("", [32], Enumerable.Range(0, 32).Select(i => i * 0.37f - 3).ToArray()),
        });
        m.Node("Mul", ["x", "w"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass).Rewritten);
        CollectionAssert.AreEqual(new[] { "Constant", "Cast", "Mul" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual(10, model.Proto.Graph.Node[0].Attribute[0].T.DataType);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: Rtol, atol: Atol);
    }

    [TestMethod]
    public void WhenValuesExceedFloat16Range_TheWeightIsSkipped()
    {
        var m = new TestModels().Input("x", 2, 20).Output("z", 2, 20);
        m.Graph.Initializer.Add(Tensor("big", [20], Enumerable.Range(0, 20).Select(i => i == 7 ? 1e6f : 1f).ToArray()));
        m.Node("Mul", ["x", "big"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes[0], "range");
    }
}
