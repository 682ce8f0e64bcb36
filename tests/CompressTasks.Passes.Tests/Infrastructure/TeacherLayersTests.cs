using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Infrastructure;

[TestClass]
public sealed class TeacherLayersTests
{
    // x ─MatMul(W1 [8, 6])─Add(b1)─ h ─Gemm(W2 [4, 6], b2, transB = 1, α = 0.5, β = 2)─ y;  W3 [3, 3, 1, 1] read by a Conv.
    private static Graph Open(out Model.OnnxModel model)
    {
        var m = new TestModels().Input("x", 2, 8).Input("img", 1, 3, 2, 2).Output("y", 2, 4).Output("c", 1, 3, 2, 2)
            .Weight("W1", [8, 6], 1).Weight("b1", [6], 2).Weight("W2", [4, 6], 3).Weight("b2", [4], 4).Weight("W3", [3, 3, 1, 1], 5);
        m.Node("MatMul", ["x", "W1"], ["m1"]).Node("Add", ["m1", "b1"], ["h"])
            .Node("Gemm", ["h", "W2", "b2"], ["y"], Int("transB", 1), Float("alpha", 0.5f), Float("beta", 2f))
            .Node("Conv", ["img", "W3"], ["c"]);
        model = m.Build();
        return Graph.Open(model);
    }

    [TestMethod]
    public void WhenWeightsAreFound_LayoutReadersAndBiasesAreThoseOfTheirNodes()
    {
        var graph = Open(out var model);
        using var owner = model;
        var w1 = TeacherLayers.Find(graph.GetConstant("W1"), out _)!;
        Assert.AreEqual((false, 8, 6, "x"), (w1.Transposed, w1.Rows, w1.Columns, w1.Readers.Single().Request.Value));
        Assert.AreEqual("b1", TeacherLayers.FindBias(w1, out float f1, out _)!.Name);
        Assert.AreEqual(1f, f1);

        var w2 = TeacherLayers.Find(graph.GetConstant("W2"), out _)!;
        Assert.AreEqual((true, 6, 4, "h"), (w2.Transposed, w2.Rows, w2.Columns, w2.Readers.Single().Request.Value));
        Assert.AreEqual("b2", TeacherLayers.FindBias(w2, out float f2, out _)!.Name);
        Assert.AreEqual(0.25f, f2, "α/β");
        // [K, N] view and back: W2 is stored [N, K].
        var rows = w2.ReadRowsByInput();
        var stored = graph.GetConstant("W2").AsFloat().ToArray();
        Assert.AreEqual(stored[1 * 6 + 2], rows[2 * 4 + 1], "W2ᵀ[2, 1] = W2[1, 2]");
        CollectionAssert.AreEqual(stored, w2.ToStoredLayout(rows));

        // A Conv weight [M, C, kH, kW] is [M, K] stored, K = C · kH · kW, read through im2col patches.
        var w3 = TeacherLayers.Find(graph.GetConstant("W3"), out _)!;
        Assert.AreEqual((true, 3, 3, 1, true), (w3.Transposed, w3.Rows, w3.Columns, w3.Groups, w3.IsConv));
        Assert.AreEqual(new Kernels.Reconstruction.ConvGeometry(1, 1), w3.Readers.Single().Request.Conv);
        Assert.IsNull(TeacherLayers.FindBias(w3, out _, out string? reason), "no bias, and none added unless asked");
        StringAssert.Contains(reason, "bias");
        Assert.AreEqual(2, graph.Nodes.Single(n => n.Is("Conv")).Inputs.Count);
    }
}
