using static CompressTasks.Graphs.Tests.TestGraphs;

namespace CompressTasks.Graphs.Tests;

[TestClass]
public sealed class ValueTests
{
    [TestMethod]
    public void AnIntermediateValue_KnowsItsProducerAndConsumers()
    {
        var g = Chain();
        var a = g.GetValue("a");
        Assert.AreSame(g, a.DefiningGraph);
        Assert.AreEqual("Relu", a.Producer!.OpType);
        Assert.HasCount(2, a.Consumers);
        Assert.AreEqual(2, a.UseCount);
        Assert.IsFalse(a.IsOuterScope);
        Assert.IsFalse(a.IsGraphInput);
        Assert.IsFalse(a.MustKeepName);
        Assert.IsNull(a.Constant);
        Assert.IsNull(a.Info);
    }

    [TestMethod]
    public void AGraphInput_HasItsDeclaredTypeAndNoProducer()
    {
        var g = Chain();
        var x = g.GetValue("x");
        Assert.IsTrue(x.IsGraphInput);
        Assert.IsNull(x.Producer);
        Assert.AreEqual("x", x.Info!.Name);
        Assert.IsTrue(g.GetValue("y").MustKeepName);
    }

    [TestMethod]
    public void AnOuterValueSeenFromASubgraph_ResolvesToTheEnclosingGraph()
    {
        var g = WithIf();
        var then = g.Nodes[0].Subgraphs[0];
        var x = then.GetValue("x");
        Assert.IsTrue(x.IsOuterScope);
        Assert.AreSame(g, x.DefiningGraph);
        Assert.IsTrue(x.IsGraphInput);
        Assert.AreEqual("x", x.Info!.Name, "the declaration is found in the enclosing graph");
        Assert.AreEqual(3, x.UseCount, "uses are counted from the defining graph");
        Assert.IsNull(then.GetValue("nowhere").DefiningGraph);
    }

    [TestMethod]
    public void SubgraphPaths_NameTheOwnerAndAttribute()
    {
        var g = WithIf();
        var inner = g.SelfAndDescendants().Single(s => s.Name == "inner");
        Assert.AreEqual("then_branch", inner.OwnerAttribute);
        Assert.AreEqual("main/If 'top_if'.else_branch/If 'inner_if'.then_branch", inner.Path);
    }
}
