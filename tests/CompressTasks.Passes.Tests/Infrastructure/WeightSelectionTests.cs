using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Infrastructure;

[TestClass]
public sealed class WeightSelectionTests
{
    private static readonly string[] Supported = ["MatMul", "Gemm"];

    // x ─MatMul(A [8,8], node "enc.fc1")─ Gemm(B [8,8], node "enc.fc2")─ MatMul(C [8,4], node "head")─ MatMul(A again, node "tail") ─▶ y
    private static TestModels Chain()
    {
        var m = new TestModels(13, 8).Input("x", 2, 8).Output("y", 2, 8)
            .Weight("A", [8, 8], 1).Weight("B", [8, 8], 2).Weight("C", [8, 4], 3).Weight("D", [4, 8], 4);
        m.Node("MatMul", ["x", "A"], ["h1"]).Node("Gemm", ["h1", "B"], ["h2"]).Node("MatMul", ["h2", "C"], ["h3"])
            .Node("MatMul", ["h3", "D"], ["h4"]).Node("MatMul", ["h4", "A"], ["y"]);
        string[] names = ["enc.fc1", "enc.fc2", "head", "proj", "tail"];
        for (int i = 0; i < names.Length; i++) m.Graph.Node[i].Name = names[i];
        return m;
    }

    private static (string[] Selected, PassResult Result) Select(params (string Name, object Value)[] values)
    {
        var descriptor = new PassDescriptor("test-selection", PassKind.Quantization, "test", WeightSelection.Parameters(Supported, 1), "- test-selection: {}");
        var arguments = new PassArguments(descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value)));
        using var model = Chain().Build();
        var result = new PassResult();
        var selection = WeightSelection.From(arguments, Supported, result);
        var uses = selection.Select(Graph.Open(model), result, _ => 1);
        return ([.. uses.Select(u => $"{u.Node.Name}:{u.Weight.Name}")], result);
    }

    [TestMethod]
    public void WhenNothingIsNarrowed_EveryReaderOfEveryWeightIsSelectedInGraphOrder()
    {
        var (selected, result) = Select();
        CollectionAssert.AreEqual(new[] { "enc.fc1:A", "tail:A", "enc.fc2:B", "head:C", "proj:D" }, selected);
        Assert.AreEqual(0, result.Skipped);
    }

    [TestMethod]
    [DataRow("op-types", "Gemm", "enc.fc2:B")]
    [DataRow("include", "enc.*", "enc.fc1:A,tail:A,enc.fc2:B")]
    [DataRow("include", "?", "enc.fc1:A,tail:A,enc.fc2:B,head:C,proj:D")]
    [DataRow("exclude", "enc.fc?", "head:C,proj:D")]
    [DataRow("exclude", "tail", "enc.fc2:B,head:C,proj:D")]
    public void WhenAListNarrowsTheSelection_OnlyMatchingWeightsRemain(string parameter, string value, string expected)
    {
        var (selected, _) = Select((parameter, new[] { value }));
        CollectionAssert.AreEqual(expected.Split(','), selected);
    }

    [TestMethod]
    public void WhenFirstAndLastAreKept_TheyAreSkippedWithAReason()
    {
        var (selected, result) = Select(("keep-first", true), ("keep-last", true), ("min-elements", 33));
        // C [8,4] has 32 elements and D 32: below min-elements, so the selected layers are A and B; A is first, B last.
        Assert.AreEqual(0, selected.Length);
        Assert.AreEqual(4, result.Skipped);
        StringAssert.Contains(string.Join("\n", result.Notes), "'A' is the first selected layer (keep-first)");
        StringAssert.Contains(string.Join("\n", result.Notes), "'B' is the last selected layer (keep-last)");
    }

    [TestMethod]
    public void WhenAnUnsupportedOpTypeIsNamed_ItIsNotedAndIgnored()
    {
        var (selected, result) = Select(("op-types", new[] { "Conv", "MatMul" }));
        CollectionAssert.AreEqual(new[] { "enc.fc1:A", "tail:A", "head:C", "proj:D" }, selected);
        StringAssert.Contains(result.Notes[0], "'Conv' is not supported");
    }

    [TestMethod]
    public void WhenQuantizationKeepsTheLastLayer_TheClassifierStaysFloat()
    {
        using var model = Chain().Build();
        var pass = new QuantizeWeightsInt8();
        var result = PassHarness.Run(model, pass, new(pass.Descriptor, [new("min-elements", 1), new("keep-last", true), new("per-channel", false)]));
        Assert.AreEqual(3, result.Rewritten, "A, B, C; D is the last selected weight");
        Assert.IsTrue(model.Proto.Graph.Initializer.Any(t => t.Name == "D" && t.DataType == 1));
    }
}
