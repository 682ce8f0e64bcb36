using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Pruning;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Pruning;

/// <summary>
/// Structured channel pruning on generated graphs. The exactness tests plant output channels whose weights and bias
/// are exactly zero (so they rank lowest and contribute nothing downstream): the pruned model must then give the
/// same outputs to 1e-5, at ORT's optimization levels Disabled and All.
/// </summary>
[TestClass]
public sealed class PruneChannelsTests
{
    private static readonly PruneChannels Pass = new();

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Append(("min-elements", 1)).Select(v => new KeyValuePair<string, object>(v.Name, v.Value)));

    private static readonly AttributeProto Pad1 = Ints("pads", 1, 1, 1, 1);

    // A float weight whose slices along `axis` listed in `zero` are exactly zero.
    private static TestModels Weight(TestModels m, string name, long[] shape, int seed, int axis = 0, params int[] zero)
    {
        var random = new Random(seed);
        long n = shape.Aggregate(1L, (a, d) => a * d);
        long inner = shape.Skip(axis + 1).Aggregate(1L, (a, d) => a * d);
        var values = new float[n];
        for (long i = 0; i < n; i++) values[i] = zero.Contains((int)(i / inner % shape[axis])) ? 0 : random.NextSingle() * 2 - 1;
        m.Graph.Initializer.Add(Tensor(name, shape, values));
        return m;
    }

    private static long[] Dims(OnnxModel model, string name) =>
        [.. model.Proto.Graph.Initializer.Single(t => t.Name == name).Dims];

    private PassResult RunExact(OnnxModel model, PassArguments arguments, IReadOnlyDictionary<string, long[]>? shapes = null)
    {
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, arguments);
        foreach (var note in result.Notes) TestContext.WriteLine(note);
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), shapes, rtol: 1e-5, atol: 1e-5);
        return result;
    }

    [TestMethod]
    public void WhenConvChainHasZeroChannels_TheyAreRemovedAndOutputsStay()
    {
        var m = new TestModels().Input("x", 1, 3, 8, 8).Output("y", 1, 4, 8, 8);
        Weight(m, "A", [8, 3, 3, 3], 1, 0, 1, 5);
        Weight(m, "bA", [8], 2, 0, 1, 5);
        Weight(m, "B", [4, 8, 3, 3], 3);
        m.Node("Conv", ["x", "A", "bA"], ["a"], Pad1).Node("Relu", ["a"], ["r"]).Node("Conv", ["r", "B"], ["y"], Pad1);
        using var model = m.Build();
        var result = RunExact(model, Args(("ratio", 0.25)));
        Assert.AreEqual((2, 1, 1), (result.Matched, result.Rewritten, result.Skipped));
        StringAssert.Contains(result.Notes[0], "'y' is a graph output");
        CollectionAssert.AreEqual(new long[] { 6, 3, 3, 3 }, Dims(model, "A"));
        CollectionAssert.AreEqual(new long[] { 6 }, Dims(model, "bA"));
        CollectionAssert.AreEqual(new long[] { 4, 6, 3, 3 }, Dims(model, "B"));
    }

    [TestMethod]
    [DataRow("l1")]
    [DataRow("bn-gamma")]
    public void WhenConvBnReluConv_TheBatchNormLosesTheSameChannels(string criterion)
    {
        var m = new TestModels().Input("x", 1, 3, 6, 6).Output("y", 1, 4, 6, 6);
        // l1: the weights of channels 2 and 6 are zero; bn-gamma: their γ. Either way β = μ = 0 there, so BN emits 0.
        int[] zero = [2, 6];
        Weight(m, "A", [8, 3, 3, 3], 1, 0, criterion == "l1" ? zero : []);
        Weight(m, "gamma", [8], 2, 0, criterion == "l1" ? [] : zero);
        Weight(m, "beta", [8], 3, 0, zero);
        Weight(m, "mean", [8], 4, 0, zero);
        m.Graph.Initializer.Add(Tensor("var", [8], [.. Enumerable.Range(0, 8).Select(i => 0.5f + i * 0.1f)]));
        Weight(m, "B", [4, 8, 3, 3], 5);
        m.Node("Conv", ["x", "A"], ["a"], Pad1).Node("BatchNormalization", ["a", "gamma", "beta", "mean", "var"], ["n"])
            .Node("Relu", ["n"], ["r"]).Node("Conv", ["r", "B"], ["y"], Pad1);
        using var model = m.Build();
        var result = RunExact(model, Args(("ratio", 0.25), ("criterion", criterion)));
        Assert.AreEqual(1, result.Rewritten);
        foreach (var p in new[] { "gamma", "beta", "mean", "var" }) CollectionAssert.AreEqual(new long[] { 6 }, Dims(model, p), p);
        CollectionAssert.AreEqual(new long[] { 4, 6, 3, 3 }, Dims(model, "B"));
    }

    [TestMethod]
    public void WhenADepthwiseConvFollows_ItsChannelsAndGroupArePrunedWithItsProducer()
    {
        var m = new TestModels().Input("x", 1, 3, 6, 6).Output("y", 1, 4, 6, 6);
        Weight(m, "A", [8, 3, 1, 1], 1, 0, 2, 3);
        Weight(m, "D", [8, 1, 3, 3], 2);
        Weight(m, "bD", [8], 3, 0, 2, 3);
        Weight(m, "B", [4, 8, 1, 1], 4);
        m.Node("Conv", ["x", "A"], ["a"]).Node("Relu", ["a"], ["r"]).Node("Conv", ["r", "D", "bD"], ["d"], Pad1, Int("group", 8))
            .Node("Relu", ["d"], ["s"]).Node("Conv", ["s", "B"], ["y"]);
        using var model = m.Build();
        var result = RunExact(model, Args(("ratio", 0.25)));
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new long[] { 6, 1, 3, 3 }, Dims(model, "D"));
        CollectionAssert.AreEqual(new long[] { 6 }, Dims(model, "bD"));
        Assert.AreEqual(6, model.Proto.Graph.Node[2].Attribute.Single(a => a.Name == "group").I);
        CollectionAssert.AreEqual(new long[] { 4, 6, 1, 1 }, Dims(model, "B"));
    }

    // x ─A [8,4,1,1]─ BN ─Relu─▶ G [8,4,3,3] group 2 (+ bG) ─ BN2 ─Relu─▶ B [4,8,1,1] ─▶ y. A's zero channels 1 and 6 are
    // one in each of G's two input blocks; G's zero output rows 0 and 5 one in each of its two output blocks; β = μ = 0
    // there, so each BN emits 0 for them and removing them changes nothing.
    private static TestModels GroupedChain(int[] zeroA, int[] zeroG)
    {
        var m = new TestModels().Input("x", 1, 4, 6, 6).Output("y", 1, 4, 6, 6);
        Weight(m, "A", [8, 4, 1, 1], 1, 0, zeroA);
        foreach (var (bn, zero) in new[] { ("n1", zeroA), ("n2", zeroG) })
        {
            Weight(m, bn + "_gamma", [8], 2);
            Weight(m, bn + "_beta", [8], 3, 0, zero);
            Weight(m, bn + "_mean", [8], 4, 0, zero);
            m.Graph.Initializer.Add(Tensor(bn + "_var", [8], [.. Enumerable.Range(0, 8).Select(i => 0.5f + i * 0.1f)]));
        }
        Weight(m, "G", [8, 4, 3, 3], 5, 0, zeroG);
        Weight(m, "bG", [8], 6, 0, zeroG);
        Weight(m, "B", [4, 8, 1, 1], 7);
        m.Node("Conv", ["x", "A"], ["a"]).Node("BatchNormalization", ["a", "n1_gamma", "n1_beta", "n1_mean", "n1_var"], ["n"]).Node("Relu", ["n"], ["r"])
            .Node("Conv", ["r", "G", "bG"], ["g"], Pad1, Int("group", 2))
            .Node("BatchNormalization", ["g", "n2_gamma", "n2_beta", "n2_mean", "n2_var"], ["h"]).Node("Relu", ["h"], ["s"])
            .Node("Conv", ["s", "B"], ["y"]);
        return m;
    }

    [TestMethod]
    public void WhenAGroupedConvFollows_EachOfItsBlocksLosesTheSameNumberOfChannels_AndItsOwnOutputsArePrunedPerBlock()
    {
        using var model = GroupedChain([1, 6], [0, 5]).Build();
        var result = RunExact(model, Args(("ratio", 0.25)));

        Assert.AreEqual(2, result.Rewritten, string.Join("\n", result.Notes));
        CollectionAssert.AreEqual(new long[] { 6, 4, 1, 1 }, Dims(model, "A"));
        CollectionAssert.AreEqual(new long[] { 6, 3, 3, 3 }, Dims(model, "G"), "G: 3 of each block's 4 outputs, 3 of each block's 4 inputs");
        CollectionAssert.AreEqual(new long[] { 6 }, Dims(model, "bG"));
        foreach (var p in new[] { "n1_gamma", "n2_mean" }) CollectionAssert.AreEqual(new long[] { 6 }, Dims(model, p), p);
        CollectionAssert.AreEqual(new long[] { 4, 6, 1, 1 }, Dims(model, "B"));
        Assert.AreEqual(2, model.Proto.Graph.Node.Single(n => n.Name == "Conv_3").Attribute.Single(a => a.Name == "group").I, "G keeps its two groups");
    }

    [TestMethod]
    public void WhenAGroupedConvFollows_ChannelsAreRankedWithinEachBlock_NotAcrossThem()
    {
        // Both zero channels of A (1 and 2) are in G's first block: one per block goes, so channel 1 (zero) and the
        // weakest of block two go, never both 1 and 2. Not exact any more, so the test checks the shapes and that ORT runs it.
        using var model = GroupedChain([1, 2], []).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Args(("ratio", 0.25), ("include", new[] { "A" })));
        Assert.AreEqual(1, result.Rewritten, string.Join("\n", result.Notes));
        CollectionAssert.AreEqual(new long[] { 6, 4, 1, 1 }, Dims(model, "A"));
        CollectionAssert.AreEqual(new long[] { 8, 3, 3, 3 }, Dims(model, "G"));
        var a = model.Proto.Graph.Initializer.Single(t => t.Name == "A");
        var rows = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(a.RawData.Span).ToArray().Chunk(4).ToArray();
        Assert.AreEqual(1, rows.Count(r => r.All(v => v == 0)), "one zero channel left: the second zero in block one stays");
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: 10, atol: 10);
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(-3)]
    public void WhenConvsMeetInAConcat_EachLosesItsChannelsAtItsOffsetOfTheNextConvsInput(int axis)
    {
        // x ─A [8]─Relu─▶ r, x ─C [6]─▶ c; Concat(r, x [3], c) ─▶ [17] ─B─▶ y and ─Relu─ D (1×1) ─▶ z. A's zero channels
        // 2 and 5, C's zero channel 1 go; B and D lose input channels 2, 5 and 8 + 3 + 1 = 12, keep x's 8–10.
        var m = new TestModels().Input("x", 1, 3, 6, 6).Output("y", 1, 4, 6, 6);
        Weight(m, "A", [8, 3, 3, 3], 1, 0, 2, 5);
        Weight(m, "C", [6, 3, 1, 1], 2, 0, 1);
        Weight(m, "bC", [6], 3, 0, 1);
        Weight(m, "B", [4, 17, 3, 3], 4);
        m.Node("Conv", ["x", "A"], ["a"], Pad1).Node("Relu", ["a"], ["r"]).Node("Conv", ["x", "C", "bC"], ["c"])
            .Node("Concat", ["r", "x", "c"], ["q"], Int("axis", axis)).Node("Conv", ["q", "B"], ["y"], Pad1);
        using var model = m.Build();
        var original = model.Proto.Graph.Initializer.Single(t => t.Name == "B").Clone();
        var result = RunExact(model, Args(("ratio", 0.25)));

        Assert.AreEqual(2, result.Rewritten, string.Join("\n", result.Notes));
        CollectionAssert.AreEqual(new long[] { 6, 3, 3, 3 }, Dims(model, "A"));
        CollectionAssert.AreEqual(new long[] { 5, 3, 1, 1 }, Dims(model, "C"));
        CollectionAssert.AreEqual(new long[] { 4, 14, 3, 3 }, Dims(model, "B"));
        // B's kept input channels, in order: A's 0,1,3,4,6,7, x's 8,9,10, C's 11,13,14,15,16.
        int[] kept = [0, 1, 3, 4, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16];
        var before = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(original.RawData.Span).ToArray();
        var after = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(model.Proto.Graph.Initializer.Single(t => t.Name == "B").RawData.Span).ToArray();
        for (int o = 0; o < 4; o++)
            for (int k = 0; k < kept.Length; k++)
                CollectionAssert.AreEqual(before.AsSpan((o * 17 + kept[k]) * 9, 9).ToArray(), after.AsSpan((o * 14 + k) * 9, 9).ToArray(), $"B[{o}, {k}]");
    }

    [TestMethod]
    public void WhenAResidualAddCouplesTwoConvs_BothLoseTheSameChannels()
    {
        // x ─A─Relu─▶ r ─B─▶ b; Add(b, r) ─Relu─ C ─▶ y: A and B are one group of 8 channels.
        var m = new TestModels().Input("x", 1, 3, 6, 6).Output("y", 1, 4, 6, 6);
        Weight(m, "A", [8, 3, 3, 3], 1, 0, 0, 7);
        Weight(m, "B", [8, 8, 3, 3], 2, 0, 0, 7);
        Weight(m, "bB", [8], 3, 0, 0, 7);
        Weight(m, "C", [4, 8, 3, 3], 4);
        m.Node("Conv", ["x", "A"], ["a"], Pad1).Node("Relu", ["a"], ["r"]).Node("Conv", ["r", "B", "bB"], ["b"], Pad1)
            .Node("Add", ["b", "r"], ["s"]).Node("Relu", ["s"], ["t"]).Node("Conv", ["t", "C"], ["y"], Pad1);
        using var model = m.Build();
        var result = RunExact(model, Args(("ratio", 0.25)));
        Assert.AreEqual(1, result.Rewritten, "one coupled group");
        StringAssert.Contains(string.Join("\n", result.Notes), "Conv 'Conv_0', Conv 'Conv_2': 8 → 6 channels");
        CollectionAssert.AreEqual(new long[] { 6, 3, 3, 3 }, Dims(model, "A"));
        CollectionAssert.AreEqual(new long[] { 6, 6, 3, 3 }, Dims(model, "B"), "B loses output and input channels");
        CollectionAssert.AreEqual(new long[] { 4, 6, 3, 3 }, Dims(model, "C"));

        // prune-coupled: false leaves the residual stream whole.
        using var again = m.Build();
        var kept = PassHarness.Run(again, Pass, Args(("ratio", 0.25), ("prune-coupled", false)));
        Assert.AreEqual(0, kept.Rewritten);
        StringAssert.Contains(string.Join("\n", kept.Notes), "Conv 'Conv_0', Conv 'Conv_2': coupled channels are left whole");
    }

    [TestMethod]
    [DataRow("Flatten")]
    [DataRow("GlobalAveragePool")]
    public void WhenConvFeedsAGemmThroughFlatten_EachChannelTakesItsFeatures(string path)
    {
        // Flatten: channel c owns Gemm inputs c·16 … c·16 + 15; GlobalAveragePool + Flatten: one feature per channel.
        bool pool = path == "GlobalAveragePool";
        long features = pool ? 6 : 6 * 16;
        var m = new TestModels().Input("x", 2, 3, 4, 4).Output("y", 2, 5);
        Weight(m, "A", [6, 3, 3, 3], 1, 0, 0, 4);
        Weight(m, "W", [5, features], 2);
        Weight(m, "bW", [5], 3);
        m.Node("Conv", ["x", "A"], ["a"], Pad1).Node("Relu", ["a"], ["r"]);
        if (pool) m.Node("GlobalAveragePool", ["r"], ["p"]).Node("Flatten", ["p"], ["f"]);
        else m.Node("Flatten", ["r"], ["f"]);
        m.Node("Gemm", ["f", "W", "bW"], ["y"], Int("transB", 1));
        using var model = m.Build();
        var result = RunExact(model, Args(("ratio", 0.34)));
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(new long[] { 5, features / 6 * 4 }, Dims(model, "W"));
    }

    [TestMethod]
    public void WhenGemmFeedsMatMul_OutputColumnsAndInputRowsGoTogether()
    {
        var m = new TestModels().Input("x", 4, 16).Output("y", 4, 8);
        Weight(m, "A", [32, 16], 1, 0, 3, 9, 10, 20);
        Weight(m, "bA", [32], 2, 0, 3, 9, 10, 20);
        Weight(m, "B", [32, 8], 3);
        m.Node("Gemm", ["x", "A", "bA"], ["a"], Int("transB", 1)).Node("Relu", ["a"], ["r"]).Node("MatMul", ["r", "B"], ["y"]);
        using var model = m.Build();
        Assert.AreEqual(1, RunExact(model, Args(("ratio", 0.125))).Rewritten);
        CollectionAssert.AreEqual(new long[] { 28, 16 }, Dims(model, "A"));
        CollectionAssert.AreEqual(new long[] { 28, 8 }, Dims(model, "B"));
    }

    [TestMethod]
    [DataRow("Reshape", "Reshape 'Reshape_2' (Reshape) reads the channels")]
    [DataRow("ConcatTwice", "Concat 'Concat_2' (Concat) reads the same channels twice")]
    [DataRow("ConcatAdd", "Concat 'Concat_2' (Concat): its output is read by Add 'Add_3' (Add); channels through a Concat are followed only into group-1 Convs")]
    [DataRow("Custom", "Custom 'Custom_2' (Custom) is not an op channel pruning understands")]
    [DataRow("Grouped", "Conv 'Conv_2' (group 4) needs the same number of channels removed from each of its 4 blocks of 2; removing 2 of 8 is less than one per block")]
    [DataRow("Shared", "is shared with other nodes")]
    [DataRow("InputAdd", "joins the channels with 'x2', which no prunable layer produces")]
    public void WhenChannelsReachSomethingNotUnderstood_TheGroupIsRefusedWithTheNodeNamed(string kind, string reason)
    {
        var m = new TestModels().Input("x", 1, 3, 4, 4).Output("y", 1, 4, 4, 4);
        Weight(m, "A", [8, 3, 3, 3], 1, 0, 0, 1);
        Weight(m, "B", [4, 8, 3, 3], 2);
        m.Node("Conv", ["x", "A"], ["a"], Pad1).Node("Relu", ["a"], ["r"]);
        switch (kind)
        {
            case "Reshape":
                m.Graph.Initializer.Add(new TensorProto { Name = "shape", DataType = 7, Dims = { 4 }, RawData = Google.Protobuf.ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes<long>([1, 8, 4, 4])) });
                m.Node("Reshape", ["r", "shape"], ["q"]).Node("Conv", ["q", "B"], ["y"], Pad1);
                break;
            case "ConcatTwice":
                m.Node("Concat", ["r", "r"], ["q"], Int("axis", 1));
                Weight(m, "B2", [4, 16, 3, 3], 3);
                m.Node("Conv", ["q", "B2"], ["y"], Pad1);
                break;
            case "ConcatAdd":
                // A residual Add on the concatenation: its channels would have to line up with the other operand's.
                Weight(m, "B2", [4, 11, 3, 3], 3);
                m.Input("x3", 1, 11, 4, 4).Node("Concat", ["r", "x"], ["q"], Int("axis", 1)).Node("Add", ["q", "x3"], ["s"]).Node("Conv", ["s", "B2"], ["y"], Pad1);
                break;
            case "Custom":
                m.Graph.Node.Add(new NodeProto { OpType = "Custom", Domain = "com.example", Name = "Custom_2", Input = { "r" }, Output = { "q" } });
                m.Node("Conv", ["q", "B"], ["y"], Pad1);
                break;
            case "Grouped":
                // 8 channels in 4 blocks of 2: ratio 25% removes 2, less than one from each block.
                Weight(m, "G", [4, 2, 3, 3], 3);
                m.Node("Conv", ["r", "G"], ["y"], Pad1, Int("group", 4));
                break;
            case "Shared":
                m.Output("a2", 1, 8, 4, 4).Node("Conv", ["r", "B"], ["y"], Pad1).Node("Conv", ["x", "A"], ["a2"], Pad1);
                break;
            case "InputAdd":
                m.Input("x2", 1, 8, 4, 4).Node("Add", ["r", "x2"], ["q"]).Node("Conv", ["q", "B"], ["y"], Pad1);
                break;
        }
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Args(("ratio", 0.25)));
        foreach (var note in result.Notes) TestContext.WriteLine(note);
        Assert.AreEqual(0, result.Rewritten);
        Assert.IsTrue(result.Notes.Any(n => n.Contains(reason, StringComparison.Ordinal)), string.Join("\n", result.Notes));
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model), "nothing changes");
    }

    [TestMethod]
    public void WhenScopeIsGlobal_RelativelyWeakChannelsGoFirstUnderTheCap()
    {
        // Two independent groups: A's channels 0–3 are 100× weaker than the rest; B's are all alike.
        var m = new TestModels().Input("x", 1, 3, 4, 4).Output("y", 1, 2, 4, 4).Output("z", 1, 2, 4, 4);
        var a = new float[8 * 27];
        var random = new Random(1);
        for (int i = 0; i < a.Length; i++) a[i] = (random.NextSingle() + 0.5f) * (i / 27 < 4 ? 0.01f : 1f);
        m.Graph.Initializer.Add(Tensor("A", [8, 3, 3, 3], a));
        Weight(m, "B", [8, 3, 3, 3], 2);
        Weight(m, "A2", [2, 8, 3, 3], 3);
        Weight(m, "B2", [2, 8, 3, 3], 4);
        m.Node("Conv", ["x", "A"], ["a"], Pad1).Node("Conv", ["a", "A2"], ["y"], Pad1)
            .Node("Conv", ["x", "B"], ["b"], Pad1).Node("Conv", ["b", "B2"], ["z"], Pad1);
        using var model = m.Build();
        var result = PassHarness.Run(model, Pass, Args(("ratio", 0.25), ("scope", "global"), ("max-layer-ratio", 0.5)));
        foreach (var note in result.Notes) TestContext.WriteLine(note);
        // 4 of 16 channels go: all from A (its weak ones), none from B.
        Assert.AreEqual(4L, Dims(model, "A")[0]);
        Assert.AreEqual(8L, Dims(model, "B")[0]);
    }
}
