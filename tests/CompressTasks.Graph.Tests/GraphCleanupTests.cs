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

    // An unread initializer listed as a graph input: an overridable default from IR 4 on (part of the interface,
    // kept); before IR 4 every initializer had to be listed, so the listing is no interface and both go.
    [TestMethod]
    [DataRow(3L, false)]
    [DataRow(8L, true)]
    public void AnUnreadInitializerThatIsAlsoAnInput_StaysFromIr4AndGoesBefore(long irVersion, bool kept)
    {
        var main = GraphOf("main", ["x"], ["y"], Node("Relu", ["x"], ["y"]));
        main.Input.Add(Info("default", dims: 1));
        main.Initializer.Add(Floats("default", [1], 1));
        main.ValueInfo.Add(Info("gone", dims: 1));
        var g = Graph.Open(ModelOf(main, irVersion: irVersion));
        Assert.AreEqual((0, kept ? 0 : 1), g.Cleanup());
        Assert.AreEqual(kept, g.Initializers.Any(t => t.Name == "default"));
        CollectionAssert.AreEqual(kept ? new[] { "x", "default" } : ["x"], g.Inputs.Select(i => i.Name).ToArray());
        Assert.IsEmpty(g.Proto.ValueInfo, "value_info of a name nothing defines goes");
        Assert.IsEmpty(GraphValidator.Validate(g));
    }
}
