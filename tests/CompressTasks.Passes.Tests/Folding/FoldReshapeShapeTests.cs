using System.Runtime.InteropServices;
using CompressTasks.Passes.Folding;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Folding;

[TestClass]
public sealed class FoldReshapeShapeTests
{
    private static readonly FoldReshapeShape Pass = new();

    private static Model.Onnx.TensorProto Ints(string name, long[] dims, params long[] values)
    {
        var t = new Model.Onnx.TensorProto { Name = name, DataType = 7 };
        t.Dims.AddRange(dims);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    // x[N,3,4] ─Relu─▶ a;  Shape(source) ─<piece>─▶ p;  Concat(<order>) ─▶ t;  Reshape(a, t) ─▶ z[N,12]
    private static TestModels Model(string piece, bool pieceFirst = true, string source = "a", long opset = 13)
    {
        var m = new TestModels(opset).Output("z", 2, 12);
        m.Graph.Input.Add(ValueInfo("x", [2, 3, 4]));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam = "N";
        m.Graph.Output[0].Type.TensorType.Shape.Dim[0].DimParam = "N";
        m.Graph.Initializer.Add(Ints("twelve", [1], 12));
        m.Graph.Initializer.Add(Ints("s", [1], 0));
        m.Graph.Initializer.Add(Ints("e", [1], 1));
        m.Graph.Initializer.Add(Ints("i", [], 0));
        m.Graph.Initializer.Add(Ints("ax", [1], 0));
        m.Node("Relu", ["x"], ["a"]).Node("Shape", [source], ["sh"]);
        if (piece == "slice") m.Node("Slice", ["sh", "s", "e"], ["p0"]);
        else m.Node("Gather", ["sh", "i"], ["g"]).Node("Unsqueeze", ["g", "ax"], ["p0"]);
        m.Node("Cast", ["p0"], ["p1"], Int("to", 6)).Node("Cast", ["p1"], ["p"], Int("to", 7));
        m.Node("Concat", pieceFirst ? ["p", "twelve"] : ["twelve", "p"], ["t"], Int("axis", 0));
        m.Node("Reshape", ["a", "t"], ["z"]);
        return m;
    }

    [TestMethod]
    [DataRow("slice")]
    [DataRow("gather")]
    public void WhenTargetCopiesTheInputsOwnDims_ItBecomesAConstantWithZeros(string piece)
    {
        using var model = Model(piece).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        var reshape = model.Proto.Graph.Node.Single(n => n.OpType == "Reshape");
        var shape = MemoryMarshal.Cast<byte, long>(model.Proto.Graph.Initializer.Single(t => t.Name == reshape.Input[1]).RawData.Span).ToArray();
        Console.WriteLine($"{piece}: target now [{string.Join(", ", shape)}]");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new long[] { 0, 12 }, shape);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), new Dictionary<string, long[]> { ["x"] = [5, 3, 4] });
    }

    [TestMethod]
    public void WhenOneDimMoves_ItBecomesMinusOne()
    {
        using var model = Model("slice", pieceFirst: false).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        var reshape = model.Proto.Graph.Node.Single(n => n.OpType == "Reshape");
        var shape = MemoryMarshal.Cast<byte, long>(model.Proto.Graph.Initializer.Single(t => t.Name == reshape.Input[1]).RawData.Span).ToArray();
        Console.WriteLine($"target now [{string.Join(", ", shape)}]");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new long[] { 12, -1 }, shape);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), new Dictionary<string, long[]> { ["x"] = [2, 3, 4] });
    }

    [TestMethod]
    [DataRow("minus one taken")]
    [DataRow("other tensor")]
    public void WhenTheDimCannotBeExpressed_NothingChanges(string how)
    {
        var m = Model("slice", pieceFirst: how != "minus one taken", source: how == "other tensor" ? "x" : "a");
        if (how == "minus one taken") m.Graph.Initializer.Single(t => t.Name == "twelve").RawData = ByteString.CopyFrom(BitConverter.GetBytes(-1L));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten, how);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenAllowZeroIsSet_NothingChanges()
    {
        var m = Model("slice", opset: 14);
        m.Graph.Node[^1].Attribute.Add(Int("allowzero", 1));
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten);
    }
}
