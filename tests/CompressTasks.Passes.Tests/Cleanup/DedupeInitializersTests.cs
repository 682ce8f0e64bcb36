using CompressTasks.Passes.Cleanup;

namespace CompressTasks.Passes.Tests.Cleanup;

[TestClass]
public sealed class DedupeInitializersTests
{
    private static readonly DedupeInitializers Pass = new();

    [TestMethod]
    public void WhenTwoInitializersAreIdentical_ReadersShareOne()
    {
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Weight("a", [2, 3], 7).Weight("b", [2, 3], 7).Weight("c", [2, 3], 8).Weight("d", [3, 2], 7);
        m.Node("Add", ["x", "a"], ["s1"]).Node("Mul", ["s1", "b"], ["s2"]).Node("Sub", ["s2", "c"], ["s3"]);
        m.Node("Reshape", ["d", "shape"], ["d2"]).Node("Add", ["s3", "d2"], ["z"]);
        m.Graph.Initializer.Add(new Model.Onnx.TensorProto { Name = "shape", DataType = 7, Dims = { 2 }, Int64Data = Google.Protobuf.ByteString.CopyFrom(2, 3) });
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass);
        Assert.AreEqual(1, result.Rewritten, "b duplicates a; c differs in values and d in shape");
        CollectionAssert.AreEquivalent(new[] { "a", "c", "d", "shape" }, model.Proto.Graph.Initializer.Select(t => t.Name).ToArray());
        Assert.AreEqual("a", model.Proto.Graph.Node[1].Input[1]);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model));
    }
}
