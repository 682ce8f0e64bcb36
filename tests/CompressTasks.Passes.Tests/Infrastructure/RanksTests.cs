using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Infrastructure;

[TestClass]
public sealed class RanksTests
{
    // A transformer's front: symbolic batch and sequence, so no shape is known, only ranks; each checked against ORT.
    [TestMethod]
    public void WhenDimsAreSymbolic_RanksFollowMatMulGatherSliceAndReductions()
    {
        var m = new TestModels(13).Input("x", 2, 5, 8).Weight("W", [8, 4], 1).Weight("E", [10, 8], 2).Weight("v", [8], 3);
        m.Graph.Input.Add(ValueInfo("ids", [2, 5], elementType: 7));
        foreach (var input in m.Graph.Input)
            for (int d = 0; d < 2; d++) input.Type.TensorType.Shape.Dim[d].DimParam = d == 0 ? "batch" : "sequence";
        m.Graph.Initializer.Add(Int64s("start", 0));
        m.Graph.Initializer.Add(Int64s("end", 3));
        m.Graph.Initializer.Add(Int64s("axis", 1));
        m.Node("MatMul", ["x", "W"], ["mm"]).Node("MatMul", ["x", "v"], ["mv"]).Node("Gather", ["E", "ids"], ["emb"]);
        m.Node("Slice", ["x", "start", "end", "axis"], ["sl"]).Node("ReduceMean", ["x"], ["mean"], Ints("axes", -1));
        m.Node("ReduceMean", ["x"], ["flat"], Ints("axes", -1), Int("keepdims", 0));
        string[] values = ["mm", "mv", "emb", "sl", "mean", "flat"];
        foreach (var v in values) m.Graph.Output.Add(new Model.Onnx.ValueInfoProto { Name = v, Type = new() { TensorType = new() { ElemType = 1 } } });
        using var model = m.Build();
        var graph = Graph.Open(model);
        using var session = ModelSession.Open(PassHarness.Bytes(model), "ranks", new RuntimeOptions { Optimization = OptimizationLevel.Disabled });
        var outputs = session.Run(InputGenerator.Generate(session.Inputs, null, 0));
        for (int i = 0; i < values.Length; i++)
        {
            Assert.IsNull(StaticShapes.Of(graph, values[i]), $"{values[i]}: the dims are symbolic");
            if (values[i] == "flat") Assert.IsNull(Ranks.Of(graph, values[i]), "a reduction that drops dims is outside the documented coverage");
            else Assert.AreEqual(outputs[i].Shape.Length, Ranks.Of(graph, values[i]), values[i]);
        }
    }

    private static Model.Onnx.TensorProto Int64s(string name, params long[] values)
    {
        var t = new Model.Onnx.TensorProto { Name = name, DataType = 7 };
        t.Dims.Add(values.Length);
        t.RawData = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }
}
