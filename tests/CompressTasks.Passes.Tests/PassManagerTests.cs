using CompressTasks.Passes.Cleanup;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Tests;

[TestClass]
public sealed class PassManagerTests
{
    [TestMethod]
    public void EachRun_CountsNodesTensorsAndBytesBeforeAndAfterItsStep()
    {
        // b duplicates a (dedupe drops one tensor); the Identity goes in eliminate-identity (one node fewer).
        var m = new TestModels().Input("x", 2, 3).Output("z", 2, 3);
        m.Weight("a", [2, 3], 7).Weight("b", [2, 3], 7);
        m.Node("Add", ["x", "a"], ["s1"]).Node("Identity", ["s1"], ["s2"]).Node("Mul", ["s2", "b"], ["z"]);
        using var model = m.Build();
        var dedupe = new DedupeInitializers();
        var identity = new EliminateIdentity();
        var runs = PassManager.Run(model,
            [new PassStep(dedupe, new PassArguments(dedupe.Descriptor)), new PassStep(identity, new PassArguments(identity.Descriptor))]);

        Assert.AreEqual((2, 1), (runs[0].InitializersBefore, runs[0].InitializersAfter), "dedupe-initializers");
        Assert.AreEqual((3, 3), (runs[0].NodesBefore, runs[0].NodesAfter), "dedupe-initializers");
        Assert.AreEqual((48L, 24L), (runs[0].BytesBefore, runs[0].BytesAfter), "dedupe-initializers: one 2×3 float tensor fewer");
        Assert.AreEqual((1, 1), (runs[1].InitializersBefore, runs[1].InitializersAfter), "eliminate-identity");
        Assert.AreEqual((3, 2), (runs[1].NodesBefore, runs[1].NodesAfter), "eliminate-identity");
    }
}
