using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using static CompressTasks.Graphs.Tests.TestGraphs;

namespace CompressTasks.Graphs.Tests;

[TestClass]
public sealed class GraphTests
{
    [TestMethod]
    public void WhenOpened_ProducersAndConsumersAreIndexed()
    {
        var g = Chain();
        Assert.AreEqual("Relu", g.GetProducer("a")!.OpType);
        Assert.IsNull(g.GetProducer("x"));
        var uses = g.GetConsumers("a");
        Assert.HasCount(2, uses);
        Assert.AreEqual("Neg", uses[0].Node.OpType);
        Assert.AreEqual(0, uses[1].Index);
        Assert.AreEqual(2, g.UseCount("a"));
        Assert.AreEqual(0, g.UseCount("y"));
        Assert.IsTrue(g.IsGraphInput("x"));
        Assert.IsTrue(g.IsGraphOutput("y"));
        Assert.IsTrue(g.MustKeepName("y"));
        Assert.IsFalse(g.MustKeepName("a"));
    }

    [TestMethod]
    public void WhenSubgraphsReadOuterNames_TheyAreConsumersOfTheOuterValue()
    {
        var g = WithIf();
        var top = g.Nodes[0];
        Assert.HasCount(2, top.Subgraphs);
        Assert.AreSame(g, top.Subgraphs[0].Parent);
        Assert.AreSame(top, top.Subgraphs[0].OwnerNode);
        // W is read by MatMul (then), Mul (else) and Add (if inside else): three uses, shared across branches.
        var uses = g.GetConsumers("W");
        Assert.HasCount(3, uses);
        CollectionAssert.AreEquivalent(new[] { "MatMul", "Mul", "Add" }, uses.Select(u => u.Node.OpType).ToArray());
        Assert.AreEqual(3, g.UseCount("W"));
        Assert.AreEqual(3, g.UseCount("x"));
        Assert.HasCount(5, g.SelfAndDescendants().ToList());
        var inner = g.SelfAndDescendants().Single(s => s.Name == "inner");
        Assert.AreEqual(2, inner.Depth);
        Assert.AreSame(g, inner.Resolve("W"));
        Assert.IsTrue(g.GetValue("x").MustKeepName, "the inner else branch returns x itself");
    }

    [TestMethod]
    public void WhenASubgraphShadowsAName_ItsReadsAreNotOuterUses()
    {
        var body = GraphOf("body", ["a"], ["o"], Node("Neg", ["a"], ["o"]));
        var loopish = Node("If", ["x"], ["z"], "if");
        loopish.Attribute.Add(new AttributeProto { Name = "then_branch", G = body });
        var main = GraphOf("main", ["x"], ["z"], Node("Relu", ["x"], ["a"]), loopish);
        var g = Graph.Open(ModelOf(main));
        Assert.AreEqual(0, g.UseCount("a"));
        Assert.AreEqual(1, g.Subgraphs.Single().UseCount("a"));
    }

    [TestMethod]
    public void WhenNodesAreInsertedAndRemoved_IndexesAndProtoListFollow()
    {
        var g = Chain();
        var neg = g.Nodes[1];
        var id = g.InsertBefore(neg, Node("Identity", ["a"], ["a2"]));
        neg.SetInput(0, "a2");
        Assert.AreEqual(1, g.PositionOf(id));
        Assert.AreSame(id.Proto, g.Proto.Node[1]);
        Assert.AreEqual(1, g.UseCount("a2"));
        Assert.AreEqual(2, g.UseCount("a"));
        g.RemoveNode(id);
        Assert.IsNull(g.GetProducer("a2"));
        Assert.IsNull(id.Graph);
        Assert.AreEqual(3, g.Proto.Node.Count);
        var after = g.InsertAfter(g.Nodes[2], Node("Relu", ["y"], ["y2"]));
        Assert.AreSame(after, g.Nodes[3]);
        Assert.AreEqual("Relu", g.Proto.Node[3].OpType);
    }

    [TestMethod]
    public void WhenManyNodesAreRemoved_TheRestKeepTheirOrder()
    {
        var g = Chain();
        g.RemoveNodes([g.Nodes[0], g.Nodes[2]]);
        Assert.HasCount(1, g.Nodes);
        Assert.AreEqual("Neg", g.Proto.Node.Single().OpType);
        Assert.IsNull(g.GetProducer("a"));
        Assert.AreEqual(1, g.UseCount("a"));
    }

    [TestMethod]
    public void WhenANodeIsReplaced_TheNewOneTakesItsPlaceAndIndexes()
    {
        var g = Chain();
        var sig = g.ReplaceNode(g.Nodes[0], Node("Sigmoid", ["x"], ["a"]));
        Assert.AreSame(sig, g.Nodes[0]);
        Assert.AreSame(sig, g.GetProducer("a"));
        Assert.AreEqual("Sigmoid", g.Proto.Node[0].OpType);
    }

    [TestMethod]
    public void WhenAllUsesAreReplaced_SubgraphReadsFollowAndGraphOutputsStay()
    {
        var g = WithIf();
        var relu = g.InsertBefore(g.Nodes[0], Node("Relu", ["x"], ["x_relu"]));
        int changed = g.ReplaceAllUses("x", "x_relu", except: relu);
        Assert.AreEqual(3, changed);
        Assert.AreEqual(1, g.UseCount("x"), "the Relu still reads x");
        Assert.AreEqual(3, g.UseCount("x_relu"));
        var innerElse = g.SelfAndDescendants().Single(s => s.Name == "inner_else");
        Assert.AreEqual("x", innerElse.Outputs[0].Name, "graph outputs are never renamed");
        Assert.IsTrue(g.MustKeepName("x"));
        Assert.AreEqual("x", g.Inputs[1].Name);
    }

    [TestMethod]
    public void WhenTheNewNameIsShadowedInASubgraph_ReplaceAllUsesThrows()
    {
        var body = GraphOf("body", ["b"], ["o"], Node("Add", ["a", "b"], ["o"]));
        var @if = Node("If", ["x"], ["z"], "if");
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", G = body });
        var main = GraphOf("main", ["x"], ["z"], Node("Relu", ["x"], ["a"]), Node("Neg", ["x"], ["b"]), @if);
        var g = Graph.Open(ModelOf(main));
        var e = Assert.ThrowsExactly<CompressTasksException>(() => g.ReplaceAllUses("a", "b"));
        Assert.AreEqual(DiagnosticCodes.NameShadowed, e.Code);
        Assert.AreEqual(1, g.UseCount("a"), "nothing changed");
    }

    [TestMethod]
    public void WhenEditedAndSaved_TheReloadedModelHasTheEdits()
    {
        var g = WithIf();
        var then = g.Nodes[0].Subgraphs[0];
        var matmul = then.Nodes[0];
        var scaled = then.CreateNode("Relu", ["W"], [then.FreshName("W_relu")], before: matmul);
        matmul.SetInput(1, scaled.Outputs[0]);
        var path = Path.Combine(Path.GetTempPath(), $"ct-graph-{Guid.NewGuid():N}.onnx");
        try
        {
            g.Model.Save(path);
            using var reloaded = Model.OnnxModel.Load(path);
            var r = Graph.Open(reloaded);
            Assert.IsEmpty(GraphValidator.Validate(r));
            var rthen = r.Nodes[0].Subgraphs[0];
            CollectionAssert.AreEqual(new[] { "Relu", "MatMul" }, rthen.Nodes.Select(n => n.OpType).ToArray());
            Assert.AreEqual(3, r.UseCount("W"));
            Assert.AreEqual("W_relu", rthen.Nodes[1].Inputs[1]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void FreshNames_AreUniqueAcrossTheModel()
    {
        var g = WithIf();
        Assert.AreNotEqual("t", g.FreshName("t"), "t is taken inside a subgraph");
        var a = g.FreshName("w_q");
        var b = g.FreshName("w_q");
        Assert.AreEqual("w_q", a);
        Assert.AreEqual("w_q_1", b);
        Assert.IsTrue(g.Subgraphs.First().IsNameTaken("w_q_1"));
        var n = g.CreateNode("Relu", ["x"], [g.FreshName("r")]);
        Assert.AreEqual("Relu", n.Name);
        Assert.AreEqual("Relu_1", g.CreateNode("Relu", ["x"], [g.FreshName("r")]).Name);
    }

    [TestMethod]
    [DataRow("", 17L)]
    [DataRow("ai.onnx", 17L)]
    [DataRow("com.microsoft", 1L)]
    [DataRow("ai.onnx.ml", null)]
    public void OpsetVersion_IsLookedUpByDomain(string domain, long? expected)
    {
        var g = Chain();
        g.Model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        Assert.AreEqual(expected, g.GetOpsetVersion(domain));
        g.Nodes[0].Proto.Domain = domain;
        Assert.AreEqual(expected, g.Nodes[0].OpsetVersion);
    }

    [TestMethod]
    public void WhenOrderIsValid_TopologicalSortKeepsIt()
    {
        var g = Chain();
        var before = g.Nodes.ToList();
        Assert.IsFalse(g.TopologicalSort());
        CollectionAssert.AreEqual(before, g.Nodes.ToList());
    }

    [TestMethod]
    public void WhenOrderIsInvalid_TopologicalSortFixesItStably()
    {
        var main = GraphOf("main", ["x"], ["y", "u"],
            Node("Add", ["a", "b"], ["y"]),
            Node("Relu", ["x"], ["a"]),
            Node("Sin", ["x"], ["u"]),
            Node("Neg", ["a"], ["b"]));
        var g = Graph.Open(ModelOf(main));
        Assert.IsTrue(g.TopologicalSort());
        CollectionAssert.AreEqual(new[] { "Relu", "Sin", "Neg", "Add" }, g.Nodes.Select(n => n.OpType).ToArray());
        CollectionAssert.AreEqual(new[] { "Relu", "Sin", "Neg", "Add" }, g.Proto.Node.Select(n => n.OpType).ToArray());
    }

    [TestMethod]
    public void WhenASubgraphReadsAValueProducedLater_TheOwnerMovesAfterIt()
    {
        var body = GraphOf("body", [], ["o"], Node("Neg", ["a"], ["o"]));
        var @if = Node("If", ["x"], ["z"], "if");
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", G = body });
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["z"], @if, Node("Relu", ["x"], ["a"]))));
        CollectionAssert.AreEquivalent(new[] { "a" }, Graph.ImplicitInputs(g.Nodes[0]).ToArray());
        g.TopologicalSort();
        Assert.AreEqual("If", g.Nodes[1].OpType);
    }

    [TestMethod]
    public void WhenThereIsACycle_TopologicalSortThrowsCT0201()
    {
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"],
            Node("Add", ["x", "b"], ["a"]), Node("Neg", ["a"], ["b"]), Node("Relu", ["x"], ["y"]))));
        Assert.IsFalse(g.TryGetTopologicalOrder(out var order, out var stuck));
        Assert.HasCount(1, order);
        Assert.HasCount(2, stuck);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => g.TopologicalSort());
        Assert.AreEqual(DiagnosticCodes.GraphInvalid, e.Code);
    }
}
