using System.Runtime.InteropServices;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Fusion;
using CompressTasks.Passes.Infrastructure;
using Google.Protobuf;
using static CompressTasks.Passes.Tests.TestModels;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Fusion;

[TestClass]
public sealed class FuseAttentionTests
{
    private static readonly FuseAttention Pass = new();

    private static PassArguments Domain(string domain) => new(Pass.Descriptor, [new("domain", domain)]);

    // B = 2, S = 8, H = 16, N = 2 heads of D = 8: the BERT self-attention block as PyTorch exports it (see FuseAttention).
    private const long B = 2, S = 8, H = 16, N = 2, D = 8;

    // The padded batch a tokenizer writes: row 0 is 8 tokens, row 1 is 5 tokens and 3 padding positions.
    private static readonly Dictionary<string, TensorValue> PaddedMask = new()
    {
        ["mask"] = new TensorValue(7, [B, S], MemoryMarshal.AsBytes(new long[] { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 }.AsSpan()).ToArray()),
    };

    private static TestModels Block(bool mask = true, bool mulScale = false, float filter = -10000f, float? scale = null, long[]? keyHeads = null,
        bool sharedWeight = false, bool probsIsOutput = false)
    {
        var m = new TestModels(13).Input("x", B, S, H).Output("y", B, S, H);
        if (mask) m.Graph.Input.Add(ValueInfo("mask", [B, S], elementType: 7));
        m.Weight("Wq", [H, H], 1).Weight("Wk", [H, H], 2).Weight("Wv", [H, H], 3).Weight("bq", [H], 4).Weight("bk", [H], 5).Weight("bv", [H], 6);
        IntConstant(m, "heads", 0, 0, N, D);
        IntConstant(m, "key_heads", keyHeads ?? [0, 0, N, D]);
        IntConstant(m, "merged", 0, 0, H);
        foreach (var (p, perm) in new[] { ("q", new long[] { 0, 2, 1, 3 }), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3]) })
            m.Node("MatMul", ["x", "W" + p], ["m" + p]).Node("Add", ["b" + p, "m" + p], ["a" + p])
                .Node("Reshape", ["a" + p, p == "k" ? "key_heads" : "heads"], ["r" + p]).Node("Transpose", ["r" + p], ["t" + p], Ints("perm", perm));
        m.Graph.Initializer.Add(Tensor("scale", [], [scale ?? (mulScale ? 1 / MathF.Sqrt(D) : MathF.Sqrt(D))]));
        m.Node("MatMul", ["tq", "tk"], ["scores"]).Node(mulScale ? "Mul" : "Div", ["scores", "scale"], ["scaled"]);
        if (mask)
        {
            IntConstant(m, "axis1", 1);
            IntConstant(m, "axis2", 2);
            m.Graph.Initializer.Add(Tensor("one", [], [1f]));
            m.Graph.Initializer.Add(Tensor("filter", [], [filter]));
            m.Node("Unsqueeze", ["mask", "axis1"], ["u1"]).Node("Unsqueeze", ["u1", "axis2"], ["u2"]).Node("Cast", ["u2"], ["mf"], Int("to", 1))
                .Node("Sub", ["one", "mf"], ["inverted"]).Node("Mul", ["inverted", "filter"], ["bias"]).Node("Add", ["scaled", "bias"], ["masked"]);
        }
        m.Node("Softmax", [mask ? "masked" : "scaled"], ["probs"], Int("axis", -1))
            .Node("MatMul", ["probs", "tv"], ["context"]).Node("Transpose", ["context"], ["heads_last"], Ints("perm", 0, 2, 1, 3))
            .Node("Reshape", ["heads_last", "merged"], ["y"]);
        if (sharedWeight) m.Node("MatMul", ["x", "Wq"], ["side"]).Output("side", B, S, H);
        if (probsIsOutput) m.Output("probs", B, N, S, S);
        return m;
    }

    private static void IntConstant(TestModels m, string name, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = 7, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
        t.Dims.Add(values.Length);
        m.Graph.Initializer.Add(t);
    }

    [TestMethod]
    [DataRow("mask, Div by √D", true, false, -10000f)]
    [DataRow("no mask", false, false, -10000f)]
    [DataRow("mask of float.MinValue, Mul by 1/√D", true, true, float.MinValue)]
    public void WhenTheBlockIsBertSelfAttention_ItBecomesOneAttention(string how, bool mask, bool mulScale, float filter)
    {
        using var model = Block(mask, mulScale, filter).Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Domain("com.microsoft"));
        var ops = model.Proto.Graph.Node.Select(n => n.OpType).ToArray();
        Console.WriteLine($"{how}: {string.Join(", ", ops)}; {string.Join("; ", result.Notes)}");
        Assert.AreEqual(1, result.Rewritten);
        CollectionAssert.AreEqual(mask ? new[] { "Cast", "Attention" } : ["Attention"], ops);
        var attention = model.Proto.Graph.Node[^1];
        Assert.AreEqual("com.microsoft", attention.Domain);
        Assert.AreEqual("y", attention.Output.Single());
        Assert.AreEqual(N, attention.Attribute.Single(a => a.Name == "num_heads").I);
        Assert.AreEqual(mask ? 4 : 3, attention.Input.Count);
        if (mask) Assert.AreEqual(filter, attention.Attribute.Single(a => a.Name == "mask_filter_value").F);
        // One joined [H, 3H] weight and [3H] bias replace the six; the mask's float chain is gone.
        CollectionAssert.AreEquivalent(new[] { 3 * H * H, 3 * H }, model.Proto.Graph.Initializer.Select(t => t.Dims.Aggregate(1L, (a, d) => a * d)).ToArray());
        // Masked positions get the same c added in both (−10000 or float.MinValue), so the comparison covers every
        // output element at the harness tolerance (1e-4 relative + 1e-5), at ORT's DISABLE_ALL and ENABLE_ALL.
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), fixedInputs: mask ? PaddedMask : null);
    }

    [TestMethod]
    [DataRow("standard domain", "com.microsoft")]
    [DataRow("shared Q weight", "shared")]
    [DataRow("softmax output is a graph output", "graph output")]
    [DataRow("wrong scale", "not scaled by 1/√8")]
    [DataRow("mismatching head reshapes", "head Reshapes")]
    public void WhenFusionIsNotAllowed_NothingChangesAndTheReasonIsGiven(string how, string reason)
    {
        var m = how switch
        {
            "shared Q weight" => Block(sharedWeight: true),
            "softmax output is a graph output" => Block(probsIsOutput: true),
            "wrong scale" => Block(scale: 3f),
            "mismatching head reshapes" => Block(keyHeads: [0, 0, 4, 4]),
            _ => Block(),
        };
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Domain(how == "standard domain" ? "standard" : "com.microsoft"));
        Console.WriteLine($"{how}: {string.Join("; ", result.Notes)}");
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(result.Notes.Single(), reason);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }
}
