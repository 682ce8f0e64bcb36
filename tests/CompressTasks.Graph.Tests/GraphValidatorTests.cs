using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using static CompressTasks.Graphs.Tests.TestGraphs;

namespace CompressTasks.Graphs.Tests;

[TestClass]
public sealed class GraphValidatorTests
{
    [TestMethod]
    public void SoundGraphs_HaveNoProblems()
    {
        Assert.IsEmpty(GraphValidator.Validate(Chain()));
        Assert.IsEmpty(GraphValidator.Validate(WithIf()));
        GraphValidator.ThrowIfInvalid(WithIf());
    }

    [TestMethod]
    public void OmittedOptionalInputsAndOutputs_AreLegal()
    {
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"], Node("Dropout", ["x", "", ""], ["y", ""]))));
        Assert.IsEmpty(GraphValidator.Validate(g));
    }

    [TestMethod]
    public void ADanglingInput_IsFound()
    {
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"], Node("Add", ["x", "ghost"], ["y"]))));
        var p = GraphValidator.Validate(g).Single();
        Assert.AreEqual(GraphProblemKind.DanglingInput, p.Kind);
        StringAssert.Contains(p.Message, "ghost");
    }

    [TestMethod]
    public void ADanglingInputInsideASubgraph_IsFoundWithItsPath()
    {
        var body = GraphOf("body", [], ["o"], Node("Neg", ["ghost"], ["o"]));
        var @if = Node("If", ["x"], ["y"], "if");
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", G = body });
        var p = GraphValidator.Validate(Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"], @if)))).Single();
        Assert.AreEqual(GraphProblemKind.DanglingInput, p.Kind);
        StringAssert.Contains(p.GraphPath, "then_branch");
    }

    [TestMethod]
    public void ACycle_IsFound()
    {
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y"], Node("Add", ["x", "b"], ["y"]), Node("Neg", ["y"], ["b"]))));
        Assert.AreEqual(GraphProblemKind.Cycle, GraphValidator.Validate(g).Single().Kind);
    }

    [TestMethod]
    public void ANameProducedTwice_IsFound()
    {
        var main = GraphOf("main", ["x"], ["y"], Node("Relu", ["x"], ["y"]), Node("Neg", ["x"], ["y"], "neg"));
        var p = GraphValidator.Validate(Graph.Open(ModelOf(main))).Single();
        Assert.AreEqual(GraphProblemKind.DuplicateProducer, p.Kind);
        StringAssert.Contains(p.Message, "neg");
    }

    [TestMethod]
    public void ANodeOverwritingAnInitializerOrInput_IsADuplicateProducer()
    {
        var main = GraphOf("main", ["x"], ["y"], Node("Relu", ["x"], ["W"]), Node("Neg", ["W"], ["x"]), Node("Add", ["W", "x"], ["y"]));
        main.Initializer.Add(Floats("W", [1], 1));
        var problems = GraphValidator.Validate(Graph.Open(ModelOf(main)));
        // Relu reads x, which Neg (re)produces from Relu's output: also a cycle.
        CollectionAssert.AreEqual(
            new[] { GraphProblemKind.DuplicateProducer, GraphProblemKind.DuplicateProducer, GraphProblemKind.Cycle },
            problems.Select(p => p.Kind).ToArray());
    }

    [TestMethod]
    public void AnOutputNotProduced_IsFound()
    {
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y", "z"], Node("Relu", ["x"], ["y"]))));
        var p = GraphValidator.Validate(g).Single();
        Assert.AreEqual(GraphProblemKind.OutputNotProduced, p.Kind);
        StringAssert.Contains(p.Message, "'z'");
    }

    [TestMethod]
    public void ThrowIfInvalid_RaisesCT0201ListingEveryProblem()
    {
        var g = Graph.Open(ModelOf(GraphOf("main", ["x"], ["y", "z"], Node("Add", ["x", "ghost"], ["y"]))));
        var e = Assert.ThrowsExactly<CompressTasksException>(() => GraphValidator.ThrowIfInvalid(g));
        Assert.AreEqual(DiagnosticCodes.GraphInvalid, e.Code);
        StringAssert.Contains(e.Message, "ghost");
        StringAssert.Contains(e.Message, "'z'");
    }

    [TestMethod]
    public void WhenAProducerIsRemoved_ItsReadersDangle()
    {
        var g = Chain();
        g.RemoveNode(g.Nodes[1]);
        Assert.AreEqual(GraphProblemKind.DanglingInput, GraphValidator.Validate(g).Single().Kind);
    }
}
