using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Versioning;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Versioning;

/// <summary>
/// Each adapter on a generated graph at an old opset: the upgraded node has its new form and ONNX Runtime gives
/// the same outputs before and after (the upgrade is exact, so the tolerance is float rounding only).
/// </summary>
[TestClass]
public sealed class ConvertOpsetTests
{
    private static readonly ConvertOpset Pass = new();

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Target(int opset) => new(Pass.Descriptor, [new("target-opset", opset)]);

    private static AttributeProto Str(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    private static AttributeProto Floats(string name, params float[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(values);
        return a;
    }

    // One model per adapter: (name, source opset, builder). Inputs are seeded random floats.
    private static TestModels Case(string name) => name switch
    {
        "slice-10" => Single(9, "Slice", [4, 6], [2, 3], Ints("starts", 1, 2), Ints("ends", 3, 100), Ints("axes", 0, 1)),
        "squeeze-13" => Single(11, "Squeeze", [2, 1, 3], [2, 3], Ints("axes", 1)),
        "unsqueeze-13" => Single(11, "Unsqueeze", [2, 3], [2, 1, 3, 1], Ints("axes", 1, -1)),
        "reducesum-13" => Single(11, "ReduceSum", [2, 3, 4], [2, 1, 4], Ints("axes", 1)),
        "clip-11" => Single(9, "Clip", [3, 4], [3, 4], Float("min", -0.25f), Float("max", 0.5f)),
        "clip-11-max-only" => Single(9, "Clip", [3, 4], [3, 4], Float("max", 0.1f)),
        "pad-11" => Single(9, "Pad", [2, 3], [4, 6], Ints("pads", 1, 0, 1, 3), Float("value", 1.5f)),
        "pad-11-reflect" => Single(9, "Pad", [3, 4], [5, 6], Ints("pads", 1, 1, 1, 1), Str("mode", "reflect")),
        "dropout-12" => Single(9, "Dropout", [3, 4], [3, 4], Float("ratio", 0.3f)),
        "upsample-9" => Single(8, "Upsample", [1, 1, 2, 3], [1, 1, 4, 6], Floats("scales", 1, 1, 2, 2), Str("mode", "nearest")),
        "upsample-9-linear" => Single(8, "Upsample", [1, 1, 2, 3], [1, 1, 4, 9], Floats("scales", 1, 1, 2, 3), Str("mode", "linear")),
        "softmax-13" => Single(11, "Softmax", [2, 3, 4], [2, 3, 4], Int("axis", 1)),
        "logsoftmax-13-default" => Single(9, "LogSoftmax", [2, 3, 4], [2, 3, 4]),
        "hardmax-13-last" => Single(9, "Hardmax", [2, 3, 4], [2, 3, 4], Int("axis", 2)),
        "batchnorm-9" => BatchNorm(),
        "split-13" => Split(),
        "reducemean-18" => Single(13, "ReduceMean", [2, 3, 4], [2, 1, 4], Ints("axes", 1)),
        "reducemax-18-all" => Single(11, "ReduceMax", [2, 3, 4], [1, 1, 1]),
        "split-18-equal" => EqualSplit(),
        "topk-10" => TopK(),
        "scatter-11" => Scatter(),
        "resize-11" => Resize10(),
        "roi-align-16" => RoiAlign(),
        _ => throw new ArgumentException(name),
    };

    private static TestModels Single(long opset, string op, long[] inShape, long[] outShape, params AttributeProto[] attributes)
    {
        var m = new TestModels(opset: opset, irVersion: 6).Input("x", inShape).Output("y", outShape);
        return m.Node(op, ["x"], ["y"], attributes);
    }

    private static TestModels BatchNorm()
    {
        var m = new TestModels(opset: 8, irVersion: 3).Input("x", 1, 3, 4, 4).Output("y", 1, 3, 4, 4)
            .Weight("s", [3], 1).Weight("b", [3], 2).Weight("mean", [3], 3).Weight("var", [3], 4, 0.5f, 2f);
        foreach (var t in m.Graph.Initializer) m.Graph.Input.Add(ValueInfo(t.Name, [.. t.Dims]));
        return m.Node("BatchNormalization", ["x", "s", "b", "mean", "var"], ["y"], Int("spatial", 1), Float("epsilon", 1e-3f));
    }

    private static TestModels Split()
    {
        var m = new TestModels(opset: 11, irVersion: 6).Input("x", 2, 6).Output("y1", 2, 2).Output("y2", 2, 4);
        return m.Node("Split", ["x"], ["y1", "y2"], Int("axis", 1), Ints("split", 2, 4));
    }

    // Split 13 without split sizes: two equal parts, which Split 18 needs spelled out as num_outputs.
    private static TestModels EqualSplit()
    {
        var m = new TestModels(opset: 13, irVersion: 7).Input("x", 2, 6).Output("y1", 2, 3).Output("y2", 2, 3);
        return m.Node("Split", ["x"], ["y1", "y2"], Int("axis", 1));
    }

    private static TestModels TopK()
    {
        var m = new TestModels(opset: 9, irVersion: 4).Input("x", 3, 5).Output("v", 3, 2);
        m.Graph.Output.Add(ValueInfo("i", [3, 2], elementType: 7));
        return m.Node("TopK", ["x"], ["v", "i"], Int("k", 2), Int("axis", 1));
    }

    private static TestModels Scatter()
    {
        var m = new TestModels(opset: 9, irVersion: 4).Input("x", 3, 3).Output("y", 3, 3);
        var indices = new TensorProto { Name = "idx", DataType = 7, RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(new long[] { 1, 0, 2, 0, 2, 1 }.AsSpan())) };
        indices.Dims.Add([2, 3]);
        m.Graph.Initializer.Add(indices);
        m.Weight("upd", [2, 3], 5);
        return m.Node("Scatter", ["x", "idx", "upd"], ["y"], Int("axis", 0));
    }

    private static TestModels Resize10()
    {
        var m = new TestModels(opset: 10, irVersion: 5).Input("x", 1, 1, 3, 3).Output("y", 1, 1, 6, 9);
        m.Graph.Initializer.Add(Tensor("scales", [4], [1, 1, 2, 3]));
        return m.Node("Resize", ["x", "scales"], ["y"], Str("mode", "linear"));
    }

    private static TestModels RoiAlign()
    {
        var m = new TestModels(opset: 10, irVersion: 5).Input("x", 1, 2, 8, 8).Output("y", 2, 2, 3, 3);
        m.Graph.Initializer.Add(Tensor("rois", [2, 4], [0.5f, 1f, 6f, 5.5f, 2f, 2f, 7.5f, 7f]));
        m.Graph.Initializer.Add(new TensorProto { Name = "batch", DataType = 7, Dims = { 2 }, RawData = ByteString.CopyFrom(new byte[16]) });
        return m.Node("RoiAlign", ["x", "rois", "batch"], ["y"], Int("output_height", 3), Int("output_width", 3), Int("sampling_ratio", 2));
    }

    [TestMethod]
    [DataRow("resize-11", 13, "Resize")]
    [DataRow("roi-align-16", 16, "RoiAlign")]
    [DataRow("slice-10", 13, "Slice")]
    [DataRow("squeeze-13", 13, "Squeeze")]
    [DataRow("unsqueeze-13", 13, "Unsqueeze")]
    [DataRow("reducesum-13", 13, "ReduceSum")]
    [DataRow("clip-11", 13, "Clip")]
    [DataRow("clip-11-max-only", 13, "Clip")]
    [DataRow("pad-11", 13, "Pad")]
    [DataRow("pad-11-reflect", 17, "Pad")]
    [DataRow("dropout-12", 13, "Dropout")]
    [DataRow("upsample-9", 13, "Resize")]
    [DataRow("upsample-9-linear", 17, "Resize")]
    [DataRow("softmax-13", 13, "Softmax")]
    [DataRow("logsoftmax-13-default", 17, "LogSoftmax")]
    [DataRow("hardmax-13-last", 13, "Hardmax")]
    [DataRow("batchnorm-9", 13, "BatchNormalization")]
    [DataRow("split-13", 13, "Split")]
    [DataRow("topk-10", 13, "TopK")]
    [DataRow("scatter-11", 13, "ScatterElements")]
    [DataRow("reducemean-18", 18, "ReduceMean")]
    [DataRow("reducemax-18-all", 21, "ReduceMax")]
    [DataRow("split-18-equal", 21, "Split")]
    public void WhenOldOpIsUpgraded_ItTakesItsNewFormAndOutputsAgree(string name, int target, string opAfter)
    {
        using var model = Case(name).Build();
        var before = PassHarness.Bytes(model);
        long source = model.Proto.OpsetImport[0].Version;
        var result = PassHarness.Run(model, Pass, Target(target));

        Assert.AreEqual(1, result.Rewritten, string.Join("; ", result.Notes));
        Assert.AreEqual(target, model.Proto.OpsetImport.Single().Version);
        var node = model.Proto.Graph.Node.Single(n => n.OpType == opAfter);
        // Every attribute that moved to an input at these versions is gone.
        string[] moved = ["shape", "starts", "ends", "axes", "min", "max", "pads", "value", "ratio", "scales", "k", "split", "spatial"];
        CollectionAssert.AreEqual(Array.Empty<string>(), node.Attribute.Select(a => a.Name).Intersect(moved).ToArray());
        if (name.StartsWith("split-18", StringComparison.Ordinal)) Assert.AreEqual(2, node.Attribute.Single(a => a.Name == "num_outputs").I);
        if (target >= 18) Assert.IsGreaterThanOrEqualTo(target >= 21 ? 10 : 8, model.Proto.IrVersion, "the IR version the opset needs");
        TestContext.WriteLine($"{name}: opset {source} → {target}: {string.Join(", ", model.Proto.Graph.Node.Select(n => $"{n.OpType}({n.Input.Count} in)"))}; {result.Notes[^1]}");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: 1e-6, atol: 1e-6);
    }

    [TestMethod]
    public void WhenAnOpChangeIsNotCovered_TheWholeUpgradeIsRefusedAndNothingChanges()
    {
        // Tile-6 changed its inputs (tiles + axis became repeats): not covered. The Reshape beside it could be upgraded.
        var m = new TestModels(opset: 5, irVersion: 3).Input("x", 2, 3).Input("t", 1).Input("a", 1).Output("y", 6, 1);
        m.Node("Tile", ["x", "t", "a"], ["z"]).Node("Reshape", ["z"], ["y"], Ints("shape", 6, 1));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Target(13));
        TestContext.WriteLine(result.Notes.Single());
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(1, result.Skipped);
        StringAssert.Contains(result.Notes[0], "Tile: its change at opset 6 is not covered");
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model), "no partial upgrade");
    }

    [TestMethod]
    [DataRow("Scale", "not a standard op")]
    [DataRow("Add", "legacy broadcasting along axis 1")]
    public void WhenANodeCannotBeCarriedAcross_TheSkipNamesIt(string op, string reason)
    {
        var m = new TestModels(opset: 6, irVersion: 3).Input("x", 2, 3).Input("b", 3).Output("y", 2, 3);
        if (op == "Add") m.Node("Add", ["x", "b"], ["y"], Int("broadcast", 1), Int("axis", 1));
        else m.Node(op, ["x"], ["y"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass, Target(13));
        TestContext.WriteLine(result.Notes.Single());
        StringAssert.Contains(result.Notes[0], reason);
        Assert.AreEqual(6, model.Proto.OpsetImport[0].Version);
    }

    [TestMethod]
    public void WhenOpsBelowOpset7AreUpgraded_LegacyAttributesAreRewritten()
    {
        // ONNX Runtime runs nothing below opset 7, so here the new form is checked, and then run at the target.
        var m = new TestModels(opset: 3, irVersion: 3).Input("x", 2, 3).Input("w", 2, 3).Output("y", 3, 4);
        m.Node("Relu", ["x"], ["r"], Ints("consumed_inputs", 0));
        m.Node("Cast", ["r"], ["c"], Str("to", "FLOAT"));
        m.Node("Add", ["c", "w"], ["s"], Int("broadcast", 0));
        m.Node("Concat", ["s", "x"], ["j"]);
        m.Node("Reshape", ["j"], ["y"], Ints("shape", 3, 4));
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass, Target(13));
        Assert.AreEqual(1, result.Rewritten, string.Join("; ", result.Notes));
        var nodes = model.Proto.Graph.Node;
        Assert.IsEmpty(nodes[0].Attribute, "consumed_inputs dropped");
        Assert.AreEqual(1, nodes[1].Attribute.Single().I, "Cast to FLOAT became 1");
        Assert.IsEmpty(nodes[2].Attribute, "broadcast dropped");
        Assert.AreEqual(1, nodes[3].Attribute.Single(a => a.Name == "axis").I, "Concat-1's default axis made explicit");
        Assert.IsEmpty(nodes.Single(n => n.OpType == "Reshape").Attribute, "Reshape-1's shape became an input");
        var x = Runtime.TensorValue.FromFloats([1f, -2, 3, -4, 5, -6], 2, 3);
        var w = Runtime.TensorValue.FromFloats([10f, 10, 10, 10, 10, 10], 2, 3);
        using var session = Runtime.ModelSession.Open(PassHarness.Bytes(model), "upgraded", new Runtime.RuntimeOptions());
        var y = session.Run(new Dictionary<string, Runtime.TensorValue> { ["x"] = x, ["w"] = w })[0].ToFloats();
        CollectionAssert.AreEqual(new float[] { 11, 10, 13, 1, -2, 3, 10, 15, 10, -4, 5, -6 }, y);
    }

    [TestMethod]
    public void WhenAnOpInASubgraphChanges_ItIsUpgradedInPlaceWithAConstantNode()
    {
        var branch = new GraphProto { Name = "then" };
        branch.Output.Add(ValueInfo("t", [1, 2, 3]));
        var other = new GraphProto { Name = "else" };
        other.Output.Add(ValueInfo("e", [1, 2, 3]));
        var m = new TestModels(opset: 11, irVersion: 6).Input("x", 2, 3).Input("c", []).Output("y", 1, 2, 3);
        m.Graph.Input[1].Type.TensorType.ElemType = 9;
        m.Node(branch, "Unsqueeze", ["x"], ["t"], Ints("axes", 0));
        m.Node(other, "Unsqueeze", ["x"], ["u"], Ints("axes", 0)).Node(other, "Neg", ["u"], ["e"]);
        m.Node("If", ["c"], ["y"], GraphAttribute("then_branch", branch), GraphAttribute("else_branch", other));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Target(13)).Rewritten);
        var then = model.Proto.Graph.Node[0].Attribute[0].G;
        CollectionAssert.AreEqual(new[] { "Constant", "Unsqueeze" }, then.Node.Select(n => n.OpType).ToArray());
        Assert.IsEmpty(then.Input, "the branch's signature is unchanged");
        foreach (var flag in new[] { true, false })
        {
            var c = new Runtime.TensorValue(9, [], [(byte)(flag ? 1 : 0)]);
            PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), fixedInputs: new Dictionary<string, Runtime.TensorValue> { ["c"] = c });
        }
    }

    [TestMethod]
    public void WhenRunTwiceOnTheSameModel_TheBytesAreIdentical()
    {
        using var first = Case("softmax-13").Build();
        using var second = Case("softmax-13").Build();
        PassHarness.Run(first, Pass, Target(17));
        PassHarness.Run(second, Pass, Target(17));
        CollectionAssert.AreEqual(PassHarness.Bytes(first), PassHarness.Bytes(second));
    }

    [TestMethod]
    public void WhenTheModelIsAlreadyAtTheTarget_ItIsLeftAlone()
    {
        using var model = Single(13, "Relu", [2], [2]).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Target(13));
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes.Single(), "already");
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
