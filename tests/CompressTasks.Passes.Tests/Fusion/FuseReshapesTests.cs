using System.Runtime.InteropServices;
using CompressTasks.Passes.Fusion;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseReshapesTests
{
    private static readonly FuseReshapes Pass = new();

    private static Model.Onnx.TensorProto Shape(string name, params long[] values)
    {
        var t = new Model.Onnx.TensorProto { Name = name, DataType = 7 };
        t.Dims.Add(values.Length);
        t.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan()));
        return t;
    }

    // x[2,3,4] ─Relu─▶ a ─Flatten─▶ f[2,12] ─Unsqueeze(0)─▶ u[1,2,12] ─Reshape([4,-1])─▶ r ─Squeeze?─▶ … ─Neg─▶ z
    [TestMethod]
    [DataRow("Flatten,Unsqueeze,Reshape", new long[] { 4, 6 })]
    [DataRow("Reshape,Squeeze", new long[] { 6, 4 })]
    [DataRow("Unsqueeze,Flatten", new long[] { 1, 24 })]
    public void WhenShapeOpsChain_OneReshapeRemains(string chain, long[] outShape)
    {
        var m = new TestModels().Input("x", 2, 3, 4).Output("z", outShape);
        m.Graph.Initializer.Add(Shape("s46", 4, -1));
        m.Graph.Initializer.Add(Shape("s164", 1, 6, 4));
        m.Graph.Initializer.Add(Shape("zero", 0));
        m.Node("Relu", ["x"], ["v0"]);
        var ops = chain.Split(',');
        for (int i = 0; i < ops.Length; i++)
        {
            string[] inputs = ops[i] switch
            {
                "Reshape" => [$"v{i}", ops.Length == 2 ? "s164" : "s46"],
                "Unsqueeze" or "Squeeze" => [$"v{i}", "zero"],
                _ => [$"v{i}"],
            };
            m.Node(ops[i], inputs, [$"v{i + 1}"]);
        }
        m.Node("Neg", [$"v{ops.Length}"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Console.WriteLine($"{chain}: {result.Rewritten} fusions, nodes now {string.Join(", ", model.Proto.Graph.Node.Select(n => n.OpType))}");
        Assert.AreEqual(ops.Length - 1, result.Rewritten);
        CollectionAssert.AreEqual(new[] { "Relu", "Reshape", "Neg" }, model.Proto.Graph.Node.Select(n => n.OpType).ToArray());
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    public void WhenBatchIsDynamicAndLastReshapeHasNoZero_ItsShapeIsUsed()
    {
        var m = new TestModels().Output("z", 6, 4);
        m.Graph.Input.Add(ValueInfo("x", [2, 3, 4]));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam = "batch";
        m.Graph.Initializer.Add(Shape("s", -1, 4));
        m.Node("Flatten", ["x"], ["f"]).Node("Reshape", ["f", "s"], ["z"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(1, result.Rewritten);
        Assert.AreEqual("s", model.Proto.Graph.Node.Single().Input[1]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }

    [TestMethod]
    [DataRow("reader")]
    [DataRow("output")]
    [DataRow("zero-copy")]
    public void WhenFusionIsNotProvablySafe_NothingChanges(string how)
    {
        var m = new TestModels().Output("z", 6, 4);
        m.Graph.Input.Add(ValueInfo("x", [2, 3, 4]));
        m.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam = "batch";
        m.Graph.Output[0].Type.TensorType.Shape.Dim[0].DimParam = "n";
        m.Graph.Initializer.Add(Shape("s", how == "zero-copy" ? 0 : -1, 4));
        m.Node("Flatten", ["x"], ["f"]).Node("Reshape", ["f", "s"], ["z"]);
        if (how == "reader") m.Node("Abs", ["f"], ["w"]).Output("w", 2, 12);
        if (how == "output") m.Output("f", 2, 12);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(0, result.Rewritten, how);
        Assert.AreEqual(1, result.Skipped);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
