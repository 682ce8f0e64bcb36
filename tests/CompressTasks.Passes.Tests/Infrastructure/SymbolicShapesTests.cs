using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Infrastructure;

[TestClass]
public sealed class SymbolicShapesTests
{
    // x[batch, seq, 8] and p[1, 16, 8]: p sliced to an unknown length and added to x, as BERT adds position embeddings.
    private static Model.OnnxModel Build()
    {
        var m = new TestModels(13).Input("x", 2, 5, 8).Input("p", 1, 16, 8).Input("n", 1).Weight("W", [8, 8], 1);
        for (int d = 0; d < 2; d++) m.Graph.Input[0].Type.TensorType.Shape.Dim[d].DimParam = d == 0 ? "batch" : "seq";
        foreach (var (name, value) in new[] { ("zero", 0L), ("one", 1L) })
            m.Graph.Initializer.Add(new Model.Onnx.TensorProto { Name = name, DataType = 7, Dims = { 1 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(new[] { value }.AsSpan())) });
        m.Node("Slice", ["p", "zero", "n", "one"], ["ps"]).Node("Add", ["x", "ps"], ["e"]);         // e[batch?, ?, 8]
        m.Node("MatMul", ["e", "W"], ["q"]).Node("Relu", ["q"], ["r"]).Node("Add", ["r", "e"], ["s"]); // r and e: the same shape
        m.Node("Transpose", ["e"], ["t"], Ints("perm", 0, 2, 1)).Node("Unsqueeze", ["x", "zero"], ["u"]);
        m.Output("s", 2, 5, 8);
        return m.Build();
    }

    [TestMethod]
    public void WhenADimIsUnknown_ItIsCarriedAsATokenSoResidualsProveEqual()
    {
        using var model = Build();
        var graph = Graph.Open(model);
        var e = SymbolicShapes.Of(graph, "e")!;
        CollectionAssert.AreEqual(new[] { "?batch", "#e:1", "8" }, e, "the broadcast of ?seq and an unknown slice is e's own axis 1");
        Assert.IsTrue(SymbolicShapes.Same(graph, "r", "e"));
        Assert.IsFalse(SymbolicShapes.Same(graph, "x", "e"), "x's ?seq may differ from e's axis 1 (the slice could be 1 and broadcast)");
        Assert.IsFalse(SymbolicShapes.Same(graph, "x", "p"));
        CollectionAssert.AreEqual(new[] { "?batch", "8", "#e:1" }, SymbolicShapes.Of(graph, "t"));
        CollectionAssert.AreEqual(new[] { "1", "?batch", "?seq", "8" }, SymbolicShapes.Of(graph, "u"));
    }
}
