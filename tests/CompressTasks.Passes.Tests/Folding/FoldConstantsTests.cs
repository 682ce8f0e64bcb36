using System.Runtime.InteropServices;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Folding;
using CompressTasks.Passes.Infrastructure;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Folding;

[TestClass]
public sealed class FoldConstantsTests
{
    private static readonly FoldConstants Pass = new();

    private static TensorProto Int64s(string name, long[] shape, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = 7, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.AddRange(shape);
        return t;
    }

    private static TensorProto Floats(string name, long[] shape, params float[] values) => Tensor(name, shape, values);

    // A graph z = x + k with x: float[2,3], where k comes from a constant subgraph ending in `op`.
    private static TestModels Case(string op, long opset)
    {
        var m = new TestModels(opset).Input("x", 2, 3).Output("z", 2, 3);
        var g = m.Graph;
        bool axesAsInput = opset >= 13;
        switch (op)
        {
            case "Add" or "Sub" or "Mul" or "Div":
                m.Weight("a", [2, 1], 1).Weight("b", [3], 2, 0.5f, 2).Node(op, ["a", "b"], ["k"]);
                break;
            case "Neg": m.Weight("a", [2, 3], 1).Node(op, ["a"], ["k"]); break;
            case "Sqrt": m.Weight("a", [2, 3], 1, 0.1f, 4).Node(op, ["a"], ["k"]); break;
            case "Identity": m.Weight("a", [2, 3], 1).Node(op, ["a"], ["k"]); break;
            case "Transpose": m.Weight("a", [3, 2], 1).Node(op, ["a"], ["k"]); break;
            case "Slice" when opset < 10:
                m.Weight("a", [4, 7], 1).Node(op, ["a"], ["k"], Ints("starts", 1, 2), Ints("ends", 3, 5));
                break;
            case "Slice":
                m.Weight("a", [4, 7], 1);
                g.Initializer.Add(Int64s("st", [2], 3, 0));
                g.Initializer.Add(Int64s("en", [2], 0, long.MaxValue));
                g.Initializer.Add(Int64s("ax", [2], 0, -1));
                g.Initializer.Add(Int64s("sp", [2], -2, 3));
                m.Node(op, ["a", "st", "en", "ax", "sp"], ["k"]);
                break;
            case "Expand":
                m.Weight("a", [3], 1);
                g.Initializer.Add(Int64s("s", [2], 2, 1));
                m.Node(op, ["a", "s"], ["k"]);
                break;
            case "Cast":
                g.Initializer.Add(Int64s("a", [2, 3], 1, -2, 3, 40, 5, -600));
                m.Node(op, ["a"], ["k"], Int("to", 1));
                break;
            case "CastRoundTrip":
                // float → int32 (truncates toward zero) → float.
                m.Weight("a", [2, 3], 1, -100, 100).Node("Cast", ["a"], ["i"], Int("to", 6)).Node("Cast", ["i"], ["k"], Int("to", 1));
                break;
            case "Gather":
                m.Weight("a", [2, 5], 1);
                g.Initializer.Add(Int64s("i", [3], 0, -1, 2));
                m.Node(op, ["a", "i"], ["k"], Int("axis", 1));
                break;
            case "Concat": m.Weight("a", [1, 3], 1).Weight("b", [1, 3], 2).Node(op, ["a", "b"], ["k"], Int("axis", 0)); break;
            case "Reshape":
                m.Weight("a", [6], 1);
                g.Initializer.Add(Int64s("s", [2], 2, -1));
                m.Node(op, ["a", "s"], ["k"]);
                break;
            case "Squeeze" when axesAsInput:
                m.Weight("a", [2, 1, 3], 1);
                g.Initializer.Add(Int64s("axes", [1], 1));
                m.Node(op, ["a", "axes"], ["k"]);
                break;
            case "Squeeze": m.Weight("a", [2, 1, 3], 1).Node(op, ["a"], ["k"], Ints("axes", -2)); break;
            case "Unsqueeze" when axesAsInput:
                m.Weight("a", [3], 1);
                g.Initializer.Add(Int64s("axes", [1], 0));
                m.Node(op, ["a", "axes"], ["k"]);
                break;
            case "Unsqueeze": m.Weight("a", [3], 1).Node(op, ["a"], ["k"], Ints("axes", 0)); break;
            case "ConstantOfShape":
                g.Initializer.Add(Int64s("s", [2], 2, 3));
                m.Node(op, ["s"], ["k"], new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Floats("", [1], 2.5f) });
                break;
            case "Range":
                g.Initializer.Add(Floats("s", [], 0.25f));
                g.Initializer.Add(Floats("l", [], 3));
                g.Initializer.Add(Floats("d", [], 1.1f));
                m.Node(op, ["s", "l", "d"], ["k"]);
                break;
            default: throw new ArgumentException(op);
        }
        return m.Node("Add", ["x", "k"], ["z"]);
    }

    [TestMethod]
    [DataRow("Add", 13)]
    [DataRow("Sub", 13)]
    [DataRow("Mul", 13)]
    [DataRow("Div", 13)]
    [DataRow("Neg", 13)]
    [DataRow("Sqrt", 13)]
    [DataRow("Identity", 13)]
    [DataRow("Transpose", 13)]
    [DataRow("Slice", 9)]
    [DataRow("Slice", 13)]
    [DataRow("Expand", 13)]
    [DataRow("Cast", 13)]
    [DataRow("CastRoundTrip", 13)]
    [DataRow("Gather", 13)]
    [DataRow("Concat", 13)]
    [DataRow("Reshape", 13)]
    [DataRow("Squeeze", 11)]
    [DataRow("Squeeze", 13)]
    [DataRow("Unsqueeze", 11)]
    [DataRow("Unsqueeze", 13)]
    [DataRow("ConstantOfShape", 13)]
    [DataRow("Range", 13)]
    public void WhenEveryInputIsConstant_TheNodeBecomesAnInitializer_AndOutputsAgree(string op, int opset)
    {
        using var model = Case(op, opset).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(op == "CastRoundTrip" ? 2 : 1, result.Rewritten, string.Join("; ", result.Notes));
        var graph = model.Proto.Graph;
        Assert.AreEqual("Add", graph.Node.Single().OpType);
        var k = graph.Initializer.Single(t => t.Name == graph.Node[0].Input[1]);
        Assert.AreEqual(1, graph.Initializer.Count, "the folded inputs are removed");
        Assert.IsTrue(k.Dims.Count <= 2);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: 0, atol: 0);
    }

    [TestMethod]
    [DataRow(11)]
    [DataRow(13)]
    public void WhenTheInputShapeIsDeclared_AShapeSubgraphCollapsesIntoOneInitializer(int opset)
    {
        // y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 1)), [-1])) with x: float[2,3] → y: float[3,2].
        var m = new TestModels(opset).Input("x", 2, 3).Output("y", 3, 2);
        m.Graph.Initializer.Add(Int64s("one", [], 1));
        m.Graph.Initializer.Add(Int64s("minus", [1], -1));
        m.Node("Shape", ["x"], ["s"]).Node("Gather", ["s", "one"], ["d"], Int("axis", 0));
        if (opset >= 13)
        {
            m.Graph.Initializer.Add(Int64s("axes", [1], 0));
            m.Node("Unsqueeze", ["d", "axes"], ["u"]);
        }
        else m.Node("Unsqueeze", ["d"], ["u"], Ints("axes", 0));
        m.Node("Concat", ["u", "minus"], ["shape"], Int("axis", 0)).Node("Reshape", ["x", "shape"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(4, PassHarness.Run(model, Pass).Rewritten);
        var graph = model.Proto.Graph;
        Assert.AreEqual("Reshape", graph.Node.Single().OpType);
        CollectionAssert.AreEqual(new long[] { 3, -1 }, MemoryMarshal.Cast<byte, long>(graph.Initializer.Single().RawData.Span).ToArray());
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenAnInputIsComputed_NothingFolds()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3).Weight("a", [2, 3], 1);
        m.Node("Neg", ["x"], ["n"]).Node("Add", ["n", "a"], ["z"]);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Matched);
        Assert.AreEqual(2, model.Proto.Graph.Node.Count);
    }

    [TestMethod]
    public void WhenAShapeHasASymbolicDim_ShapeStays()
    {
        var m = new TestModels().Output("y", 2);
        m.Graph.Input.Add(ValueInfo("x", [2, 3]));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam = "batch";
        m.Node("Shape", ["x"], ["s"]).Node("Identity", ["s"], ["y"]);
        using var model = m.Build();
        Assert.AreEqual(0, PassHarness.Run(model, Pass).Matched);
    }

    [TestMethod]
    public void WhenTheInitializerIsAlsoAGraphInput_ItIsNotAConstant()
    {
        var m = new TestModels().Input("x", 2, 3).Input("a", 2, 3).Output("z", 2, 3).Weight("a", [2, 3], 1);
        m.Node("Neg", ["a"], ["n"]).Node("Add", ["x", "n"], ["z"]);
        using var model = m.Build();
        Assert.AreEqual(0, PassHarness.Run(model, Pass).Matched);
    }

    [TestMethod]
    [DataRow("graph-output", "its output is a graph output")]
    [DataRow("too-large", "max-elements 5")]
    [DataRow("unknown-op", "no kernel for Exp")]
    [DataRow("random", "RandomNormal is nondeterministic")]
    [DataRow("random-like", "RandomUniformLike is nondeterministic")]
    [DataRow("bad-index", "out of range")]
    [DataRow("string", "string inputs are not folded")]
    public void WhenAFoldIsNotSafe_TheNodeStays_AndTheSkipSaysWhy(string kind, string reason)
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3).Weight("a", [2, 3], 1);
        switch (kind)
        {
            case "graph-output": m.Output("k", 2, 3).Node("Neg", ["a"], ["k"]); break;
            case "too-large": m.Weight("b", [3], 2).Node("Add", ["a", "b"], ["k"]); break;
            case "unknown-op": m.Node("Exp", ["a"], ["k"]); break;
            case "random": m.Node("RandomNormal", [], ["k"], Ints("shape", 2, 3)); break;
            case "random-like": m.Node("RandomUniformLike", ["a"], ["k"]); break;
            case "string":
                var strings = new TensorProto { Name = "s", DataType = 8, Dims = { 2 } };
                strings.StringData.Add(ByteString.CopyFromUtf8("a"));
                strings.StringData.Add(ByteString.CopyFromUtf8("b"));
                m.Graph.Initializer.Add(strings);
                m.Node("Identity", ["s"], ["k"]);
                break;
            case "bad-index":
                m.Graph.Initializer.Add(Int64s("i", [2], 0, 2));
                m.Weight("c", [2, 3], 3).Node("Gather", ["c", "i"], ["k"], Int("axis", 0));
                break;
        }
        m.Node("Add", ["x", kind == "random" ? "k" : "a"], ["z"]);
        using var model = m.Build();
        int nodes = model.Proto.Graph.Node.Count;
        var arguments = kind == "too-large" ? new PassArguments(Pass.Descriptor, [new KeyValuePair<string, object>("max-elements", 5)]) : null;
        var result = PassHarness.Run(model, Pass, arguments);
        Assert.AreEqual(0, result.Rewritten);
        Assert.AreEqual(nodes, model.Proto.Graph.Node.Count);
        Assert.AreEqual(1, result.Skipped, string.Join("; ", result.Notes));
        StringAssert.Contains(result.Notes.Single(), reason);
    }

    [TestMethod]
    public void WhenFoldsChain_OneRunReachesTheFixedPoint()
    {
        // k = Neg(Sqrt(Neg(Neg(a)))) listed in reverse order, so one sweep cannot fold them all.
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3).Weight("a", [2, 3], 1, 0.1f, 2);
        m.Node("Add", ["x", "k"], ["z"]).Node("Neg", ["c"], ["k"]).Node("Sqrt", ["b"], ["c"]).Node("Neg", ["n"], ["b"]).Node("Neg", ["a"], ["n"]);
        using var model = m.Build();
        Assert.AreEqual(4, PassHarness.Run(model, Pass).Rewritten);
        Assert.AreEqual(1, model.Proto.Graph.Node.Count);
    }

    [TestMethod]
    public void WhenABranchReadsAnOuterConstant_TheBranchGetsTheInitializer_AndTheOuterOneStaysForItsOtherReaders()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3).Weight("a", [2, 3], 1);
        m.Graph.Initializer.Add(new TensorProto { Name = "cond", DataType = 9, RawData = ByteString.CopyFrom(1) });
        var then = new GraphProto { Name = "then" };
        then.Output.Add(ValueInfo("t", [2, 3]));
        m.Node(then, "Neg", ["a"], ["n"]).Node(then, "Add", ["x", "n"], ["t"]);
        var otherwise = new GraphProto { Name = "else" };
        otherwise.Output.Add(ValueInfo("e", [2, 3]));
        m.Node(otherwise, "Sub", ["x", "a"], ["e"]);
        m.Node("If", ["cond"], ["z"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass).Rewritten);
        var branch = model.Proto.Graph.Node[0].Attribute[0].G;
        Assert.AreEqual("Add", branch.Node.Single().OpType);
        Assert.AreEqual(branch.Initializer.Single().Name, branch.Node[0].Input[1]);
        Assert.IsTrue(model.Proto.Graph.Initializer.Any(t => t.Name == "a"), "the else branch still reads a");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: 0, atol: 0);
    }

    [TestMethod]
    public void WhenIrIsBelow4_InitializersDeclaredAsInputsAreConstants_AndTheResultIsDeclaredToo()
    {
        var m = new TestModels(opset: 8, irVersion: 3).Input("x", 2, 3).Input("a", 2, 3).Output("z", 2, 3).Weight("a", [2, 3], 1);
        m.Node("Neg", ["a"], ["k"]).Node("Add", ["x", "k"], ["z"]);
        using var model = m.Build();
        Assert.AreEqual(1, PassHarness.Run(model, Pass).Rewritten);
        var graph = model.Proto.Graph;
        var folded = graph.Initializer.Single();
        Assert.AreEqual(folded.Name, graph.Node.Single().Input[1]);
        CollectionAssert.AreEqual(new[] { "x", folded.Name }, graph.Input.Select(i => i.Name).ToArray());
    }
}
