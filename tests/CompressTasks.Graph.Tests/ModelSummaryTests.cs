using static CompressTasks.Graphs.Tests.TestGraphs;

namespace CompressTasks.Graphs.Tests;

[TestClass]
public sealed class ModelSummaryTests
{
    [TestMethod]
    public void ASummary_CountsSubgraphOperatorsApartAndOuterWeightsOnce()
    {
        var g = WithIf();
        var s = ModelSummary.Of(g.Nodes[0].Subgraphs[0]);
        Assert.AreEqual(8, s.IrVersion);
        Assert.AreEqual("tests", s.Producer);
        var ifs = s.Operators.Single(o => o.OpType == "If");
        Assert.AreEqual(1, ifs.InMainGraph);
        Assert.AreEqual(1, ifs.InSubgraphs);
        Assert.AreEqual(2, s.ParameterCount);
        Assert.AreEqual(("float", 8L), s.BytesByType.Single());
        Assert.AreEqual("W", s.Constants.Single().Name);
        CollectionAssert.AreEqual(new[] { "cond", "x" }, s.Inputs.Select(i => i.Name).ToArray());
        Assert.AreEqual("bool", s.Inputs[0].ElementType);
        Assert.IsEmpty(s.ExternalFiles);
    }

    [TestMethod]
    public void SymbolicAndUnknownDims_AreDescribedByName()
    {
        var info = Info("x", 1, 3);
        var shape = info.Type.TensorType.Shape;
        shape.Dim.Add(new Model.Onnx.TensorShapeProto.Types.Dimension { DimParam = "batch" });
        shape.Dim.Add(new Model.Onnx.TensorShapeProto.Types.Dimension());
        CollectionAssert.AreEqual(new[] { "3", "batch", "?" }, ModelSummary.Describe(info).Shape!.ToArray());
        Assert.IsNull(ModelSummary.Describe(new Model.Onnx.ValueInfoProto { Name = "n" }).Shape);
    }
}
