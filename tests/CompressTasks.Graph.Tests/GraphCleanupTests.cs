using CompressTasks.Model.Onnx;
using static CompressTasks.Graphs.Tests.TestGraphs;

namespace CompressTasks.Graphs.Tests;

[TestClass]
public sealed class GraphCleanupTests
{
    [TestMethod]
    public void UnreadChainsAndInitializers_AreRemoved()
    {
        var main = GraphOf("main", ["x"], ["y"],
            Node("Relu", ["x"], ["y"]),
            Node("Mul", ["x", "W"], ["d1"]),
            Node("Neg", ["d1"], ["d2"]));
        main.Initializer.Add(Floats("W", [1], 1));
        main.Initializer.Add(Floats("unused", [1], 1));
        var g = Graph.Open(ModelOf(main));
        Assert.AreEqual((2, 2), g.Cleanup());
        Assert.AreEqual("Relu", g.Nodes.Single().OpType);
        Assert.IsEmpty(g.Initializers);
        Assert.AreEqual("x", g.Inputs.Single().Name, "graph inputs stay");
        Assert.IsEmpty(GraphValidator.Validate(g));
    }

    [TestMethod]
    public void ValuesReadInsideSubgraphsOrReturned_Stay()
    {
        var g = WithIf();
        Assert.AreEqual((0, 0), g.Cleanup());
        Assert.HasCount(1, g.Initializers);
    }

    [TestMethod]
    public void ANodeReadOnlyByADeadSubgraphOwner_IsRemovedToo()
    {
        var body = GraphOf("body", [], ["o"], Node("Neg", ["a"], ["o"]));
        var @if = Node("If", ["x"], ["z"], "if");
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", G = body });
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["x"], Node("Relu", ["x"], ["a"]), @if)));
        Assert.AreEqual((2, 0), g.Cleanup());
        Assert.IsEmpty(g.Nodes);
    }

    [TestMethod]
    public void DeadNodesInsideSubgraphs_AreRemoved()
    {
        var body = GraphOf("body", [], ["o"], Node("Neg", ["x"], ["o"]), Node("Sin", ["x"], ["dead"]));
        var @if = Node("If", ["x"], ["y"], "if");
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", G = body });
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"], @if)));
        Assert.AreEqual((1, 0), g.Cleanup());
        Assert.AreEqual("Neg", g.Nodes[0].Subgraphs[0].Nodes.Single().OpType);
    }
}
