using CompressTasks.Passes.Cleanup;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Cleanup;

[TestClass]
public sealed class EliminateIdentityTests
{
    private static readonly EliminateIdentity Pass = new();

    [TestMethod]
    public void WhenIdentitySitsBetweenNodes_ItIsRemovedAndReadersRewired()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Node("Relu", ["x"], ["a"]).Node("Identity", ["a"], ["b"]).Node("Dropout", ["b"], ["c"]).Node("Neg", ["c"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(2, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual("a", model.Proto.Graph.Node[1].Input[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenIdentityProducesAGraphOutput_TheOutputNameIsKept()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Node("Relu", ["x"], ["a"]).Node("Identity", ["a"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        PassHarness.Run(model, Pass);
        Assert.AreEqual(1, model.Proto.Graph.Node.Count);
        Assert.AreEqual("z", model.Proto.Graph.Node[0].Output[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenIdentityConnectsGraphInputToGraphOutput_ItStays()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Node("Identity", ["x"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(1, result.Skipped);
        Assert.AreEqual(1, model.Proto.Graph.Node.Count);
    }

    [TestMethod]
    public void WhenDropoutMaskIsUsed_ItStays()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3).Output("mask", 2, 3);
        m.Graph.Output[1].Type.TensorType.ElemType = 9;
        m.Node("Dropout", ["x"], ["z", "mask"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes[0], "mask");
    }

    [TestMethod]
    public void WhenIdentityOutputIsReadInsideASubgraph_TheSubgraphIsRewiredToo()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Graph.Initializer.Add(new Model.Onnx.TensorProto { Name = "cond", DataType = 9, RawData = Google.Protobuf.ByteString.CopyFrom(1) });
        var then = new Model.Onnx.GraphProto { Name = "then" };
        then.Output.Add(ValueInfo("t", [2, 3]));
        m.Node(then, "Neg", ["b"], ["t"]);
        var otherwise = new Model.Onnx.GraphProto { Name = "else" };
        otherwise.Output.Add(ValueInfo("e", [2, 3]));
        m.Node(otherwise, "Abs", ["b"], ["e"]);
        m.Node("Relu", ["x"], ["a"]).Node("Identity", ["a"], ["b"]);
        m.Node("If", ["cond"], ["z"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        PassHarness.Run(model, Pass);
        Assert.AreEqual(2, model.Proto.Graph.Node.Count);
        Assert.AreEqual("a", model.Proto.Graph.Node[1].Attribute[0].G.Node[0].Input[0], "the branch reads the Identity's input now");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    private static Model.Onnx.TensorProto Ints(string name, params long[] values)
    {
        var t = new Model.Onnx.TensorProto { Name = name, DataType = 7 };
        t.Dims.Add(values.Length);
        t.RawData = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    // x[2,3,4] ─Relu─▶ a ─<op>─▶ b ─Neg─▶ z, where <op> is a no-op by static shapes or attributes.
    private static TestModels NoOp(string op, long opset = 13)
    {
        var m = new TestModels(opset).Input("x", 2, 3, 4).Output("z", 2, 3, 4);
        m.Graph.Initializer.Add(Ints("same", 2, 3, 4));
        m.Graph.Initializer.Add(Ints("inferred", 0, -1, 4));
        m.Graph.Initializer.Add(Ints("zeros", 0, 0, 0, 0, 0, 0));
        m.Graph.Initializer.Add(Ints("s0", 0, 0));
        m.Graph.Initializer.Add(Ints("e0", long.MaxValue, 3));
        m.Graph.Initializer.Add(Ints("ax", 0, 1));
        m.Graph.Initializer.Add(Ints("none"));
        m.Node("Relu", ["x"], ["a"]);
        switch (op)
        {
            case "Cast": m.Node("Cast", ["a"], ["b"], Int("to", 1)); break;
            case "Reshape": m.Node("Reshape", ["a", "inferred"], ["b"]); break;
            case "Transpose": m.Node("Transpose", ["a"], ["b"], TestModels.Ints("perm", 0, 1, 2)); break;
            case "Pad": m.Node("Pad", ["a", "zeros"], ["b"]); break;
            case "Pad-2": m.Node("Pad", ["a"], ["b"], TestModels.Ints("pads", 0, 0, 0, 0, 0, 0)); break;
            case "Slice": m.Node("Slice", ["a", "s0", "e0", "ax"], ["b"]); break;
            case "Concat": m.Node("Concat", ["a"], ["b"], Int("axis", 1)); break;
            case "Expand": m.Node("Expand", ["a", "same"], ["b"]); break;
            case "Squeeze": m.Node("Squeeze", ["a", "none"], ["b"]); break;
        }
        m.Node("Neg", ["b"], ["z"]);
        return m;
    }

    [TestMethod]
    [DataRow("Cast")]
    [DataRow("Reshape")]
    [DataRow("Transpose")]
    [DataRow("Pad")]
    [DataRow("Pad-2", 10L)]
    [DataRow("Slice")]
    [DataRow("Concat")]
    [DataRow("Expand")]
    [DataRow("Squeeze")]
    public void WhenOpIsANoOpByStaticShapes_ItIsRemoved(string op, long opset = 13)
    {
        using var model = NoOp(op, opset).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{op}: {result.Rewritten} removed, nodes now {string.Join(", ", model.Proto.Graph.Node.Select(n => n.OpType))}");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("Cast", "to=int32")]
    [DataRow("Reshape", "[3,2,4]")]
    [DataRow("Transpose", "perm=[1,0,2]")]
    [DataRow("Slice", "1:3 of axis 1")]
    [DataRow("Expand", "to [2,2,3,4]")]
    [DataRow("Flatten", "axis=1")]
    [DataRow("Unsqueeze", "axes=[0]")]
    public void WhenOpChangesTheTensor_ItStays(string op, string how)
    {
        var m = new TestModels().Input("x", 2, 3, 4);
        m.Graph.Initializer.Add(Ints("shape", 3, 2, 4));
        m.Graph.Initializer.Add(Ints("s", 1));
        m.Graph.Initializer.Add(Ints("e", 3));
        m.Graph.Initializer.Add(Ints("ax", 1));
        m.Graph.Initializer.Add(Ints("big", 2, 2, 3, 4));
        m.Graph.Initializer.Add(Ints("zero", 0));
        m.Node("Relu", ["x"], ["a"]);
        switch (op)
        {
            case "Cast": m.Node("Cast", ["a"], ["b"], Int("to", 6)).Output("b", 2, 3, 4); m.Graph.Output[0].Type.TensorType.ElemType = 6; break;
            case "Reshape": m.Node("Reshape", ["a", "shape"], ["b"]).Output("b", 3, 2, 4); break;
            case "Transpose": m.Node("Transpose", ["a"], ["b"], TestModels.Ints("perm", 1, 0, 2)).Output("b", 3, 2, 4); break;
            case "Slice": m.Node("Slice", ["a", "s", "e", "ax"], ["b"]).Output("b", 2, 2, 4); break;
            case "Expand": m.Node("Expand", ["a", "big"], ["b"]).Output("b", 2, 2, 3, 4); break;
            case "Flatten": m.Node("Flatten", ["a"], ["b"], Int("axis", 1)).Output("b", 2, 12); break;
            case "Unsqueeze": m.Node("Unsqueeze", ["a", "zero"], ["b"]).Output("b", 1, 2, 3, 4); break;
        }
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{op} {how}: {result.Rewritten} removed");
        Assert.AreEqual(0, result.Rewritten, how);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenShapeIsUnknown_ReshapeStays()
    {
        var m = new TestModels().Output("z", 2, 3, 4);
        m.Graph.Input.Add(new Model.Onnx.ValueInfoProto { Name = "x", Type = new Model.Onnx.TypeProto { TensorType = new() { ElemType = 1 } } });
        m.Graph.Initializer.Add(Ints("same", 2, 3, 4));
        m.Node("Reshape", ["x", "same"], ["b"]).Node("Neg", ["b"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten, "the input's shape is not known, so the Reshape may change it");
    }

    [TestMethod]
    public void WhenNoOpReshapeProducesAGraphOutput_TheOutputNameIsKept()
    {
        var m = new TestModels().Input("x", 2, 3, 4).Output("z", 2, 3, 4);
        m.Graph.Initializer.Add(Ints("same", 2, 3, 4));
        m.Node("Relu", ["x"], ["a"]).Node("Reshape", ["a", "same"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(1, result.Rewritten);
        Assert.AreEqual("z", model.Proto.Graph.Node.Single().Output[0]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("Add", false, 0f, new long[0])]
    [DataRow("Add", true, 0f, new long[] { 1, 1 })]
    [DataRow("Sub", false, 0f, new long[] { 1 })]
    [DataRow("Mul", true, 1f, new long[0])]
    [DataRow("Div", false, 1f, new long[] { 1, 1, 1 })]
    public void WhenArithmeticAppliesItsNeutralConstant_TheNodeIsRemoved(string op, bool constantFirst, float neutral, long[] constantShape)
    {
        var m = new TestModels().Input("x", 2, 3, 4).Output("z", 2, 3, 4);
        m.Graph.Initializer.Add(Tensor("n", constantShape, [neutral]));
        m.Node("Relu", ["x"], ["a"]).Node(op, constantFirst ? ["n", "a"] : ["a", "n"], ["b"]).Node("Neg", ["b"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass).Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    // Each would change the value or the shape: a non-neutral value, 0 − x, a constant that broadcasts x up, a
    // constant of higher rank than x.
    [TestMethod]
    [DataRow("Add", false, 0.5f, new long[0])]
    [DataRow("Sub", true, 0f, new long[0])]
    [DataRow("Div", true, 1f, new long[0])]
    [DataRow("Add", false, 0f, new long[] { 2, 1, 1 })]
    [DataRow("Mul", false, 1f, new long[] { 1, 1, 1, 1 })]
    public void WhenTheConstantIsNotNeutralOrBroadcasts_TheNodeStays(string op, bool constantFirst, float value, long[] constantShape)
    {
        var m = new TestModels().Input("x", 2, 3, 4);
        m.Graph.Initializer.Add(Tensor("n", constantShape, Enumerable.Repeat(value, (int)constantShape.Aggregate(1L, (a, d) => a * d)).ToArray()));
        m.Node("Relu", ["x"], ["a"]).Node(op, constantFirst ? ["n", "a"] : ["a", "n"], ["z"]);
        m.Graph.Output.Add(new Model.Onnx.ValueInfoProto { Name = "z", Type = new() { TensorType = new() { ElemType = 1 } } });
        using var model = m.Build();
        Assert.AreEqual(0, PassHarness.Run(model, Pass).Rewritten);
        Assert.AreEqual(2, model.Proto.Graph.Node.Count);
    }
}
