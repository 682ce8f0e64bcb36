using System.Diagnostics;
using CompressTasks.Model.Onnx;
using static CompressTasks.Graphs.Tests.TestGraphs;

namespace CompressTasks.Graphs.Tests;

/// <summary>Guards against quadratic indexes: models have thousands of nodes and passes edit many of them.</summary>
[TestClass]
public sealed class PerformanceTests
{
    private const int Count = 20_000;

    [TestMethod]
    public void WhenAChainOfManyNodesIsEdited_EveryOperationStaysFast()
    {
        var main = GraphOf("main", ["v0"], [$"v{Count}"]);
        for (int i = 0; i < Count; i++) main.Node.Add(Node("Relu", [$"v{i}"], [$"v{i + 1}"], $"n{i}"));
        var clock = Stopwatch.StartNew();
        var g = Graph.Open(ModelOf(main));
        // Put an Identity after every other node, then drop them all again.
        var added = new List<Node>(Count / 2);
        for (int i = 0; i < Count; i += 2)
        {
            var relu = g.GetProducer($"v{i + 1}")!;
            var id = g.InsertAfter(relu, Node("Identity", [$"v{i + 1}"], [g.FreshName($"v{i + 1}_id")]));
            g.ReplaceAllUses($"v{i + 1}", id.Outputs[0], except: id);
            added.Add(id);
        }
        Assert.AreEqual(Count + Count / 2, g.Nodes.Count);
        Assert.IsEmpty(GraphValidator.Validate(g));
        foreach (var id in added) g.ReplaceAllUses(id.Outputs[0], id.Inputs[0]);
        g.RemoveNodes(added);
        Assert.IsFalse(g.TopologicalSort());
        Assert.IsEmpty(GraphValidator.Validate(g));
        Assert.AreEqual(Count, g.Proto.Node.Count);
        clock.Stop();
        // Generous for a shared CI machine; a quadratic index takes minutes here.
        Assert.IsLessThan(10_000, clock.ElapsedMilliseconds, $"took {clock.ElapsedMilliseconds} ms");
    }

    [TestMethod]
    public void WhenManyReadersOfOneValueAreRemoved_RemovalStaysFast()
    {
        var main = GraphOf("main", ["x"], []);
        for (int i = 0; i < Count; i++) main.Node.Add(Node("Neg", ["x"], [$"o{i}"], $"n{i}"));
        var g = Graph.Open(ModelOf(main));
        var clock = Stopwatch.StartNew();
        // Half from the back, one at a time; the rest in one batch, all readers of the same value.
        while (g.Nodes.Count > Count / 2) g.RemoveNode(g.Nodes[^1]);
        Assert.AreEqual(Count / 2, g.UseCount("x"));
        g.RemoveNodes(g.Nodes.ToList());
        Assert.AreEqual(0, g.UseCount("x"));
        Assert.IsLessThan(10_000, clock.ElapsedMilliseconds, $"took {clock.ElapsedMilliseconds} ms");
    }
}
