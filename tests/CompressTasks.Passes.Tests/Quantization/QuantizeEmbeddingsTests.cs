using System.Runtime.InteropServices;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime;
using static CompressTasks.Passes.Tests.TestModels;
using TensorValue = CompressTasks.Runtime.TensorValue;

namespace CompressTasks.Passes.Tests.Quantization;

[TestClass]
public sealed class QuantizeEmbeddingsTests
{
    private static readonly QuantizeEmbeddings Pass = new();

    private const int V = 50, D = 40;

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Select(v => new KeyValuePair<string, object>(v.Name, v.Value)));

    // 3 × 4 table chosen so no w/s lies near a rounding tie. Row 1 is all zeros.
    private static readonly float[] Small = [1f, -3f, 0.5f, 4f, 0f, 0f, 0f, 0f, -0.1f, 0.2f, 0.25f, -0.6f];

    // ids ─Gather(W)─▶ y
    private static TestModels OneGather(float[] table, long[] dims, long opset = 13)
    {
        var m = new TestModels(opset).Output("y", 2, dims[1]);
        m.Graph.Input.Add(ValueInfo("ids", [2], elementType: 7));
        m.Graph.Initializer.Add(Tensor("W", dims, table));
        return m.Node("Gather", ["W", "ids"], ["y"]);
    }

    [TestMethod]
    public void WhenSymmetric_CodesAndRowScalesAreTheHandComputedOnes_AndAZeroRowHasScaleOne()
    {
        using var model = OneGather(Small, [3, 4]).Build();
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Args(("min-elements", 1))).Rewritten);
        var graph = model.Proto.Graph;
        var q = graph.Initializer.Single(t => t.Name == "W_quantized");
        var s = graph.Initializer.Single(t => t.Name == "W_scale");
        Assert.AreEqual((int)TensorProto.Types.DataType.Int8, q.DataType);
        CollectionAssert.AreEqual(new long[] { 3, 1 }, s.Dims.ToArray(), "scales [V, 1] broadcast after the Gather");
        // s = max|row|/127; q = round(w/s): 1·127/4 = 31.75, −3·127/4 = −95.25, 0.5·127/4 = 15.875; −0.1·127/0.6 = −21.17, 42.33, 52.92.
        var codes = MemoryMarshal.Cast<byte, sbyte>(q.RawData.Span).ToArray();
        CollectionAssert.AreEqual(new sbyte[] { 32, -95, 16, 127, 0, 0, 0, 0, -21, 42, 53, -127 }, codes);
        var scales = MemoryMarshal.Cast<byte, float>(s.RawData.Span).ToArray();
        CollectionAssert.AreEqual(new[] { 4f / 127, 1f, 0.6f / 127 }, scales);
        AssertWithinHalfStep(codes.Select(c => (float)c).ToArray(), scales, new float[3]);
        CollectionAssert.AreEqual(new[] { "Gather", "Cast", "Gather", "Mul" }, graph.Node.Select(n => n.OpType).ToArray());
        Assert.AreEqual("y", graph.Node[^1].Output[0]);
        Assert.IsFalse(graph.Initializer.Any(t => t.Name == "W"));
    }

    [TestMethod]
    public void WhenAsymmetric_CodesScalesAndZeroPointsAreTheHandComputedOnes()
    {
        using var model = OneGather(Small, [3, 4]).Build();
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Args(("min-elements", 1), ("symmetric", false))).Rewritten);
        var graph = model.Proto.Graph;
        var q = graph.Initializer.Single(t => t.Name == "W_quantized");
        var z = graph.Initializer.Single(t => t.Name == "W_zero_point");
        Assert.AreEqual((int)TensorProto.Types.DataType.Uint8, q.DataType);
        CollectionAssert.AreEqual(new long[] { 3, 1 }, z.Dims.ToArray());
        // Row 0: [−3, 4], s = 7/255, z = round(3/s) = round(109.29) = 109; q = round(w/s) + z.
        // Row 2: [−0.6, 0.25], s = 0.85/255, z = 180; w/s = −30, 60, 75, −180. Row 1: s = 1, z = 0.
        CollectionAssert.AreEqual(new byte[] { 145, 0, 127, 255, 0, 0, 0, 0, 150, 240, 255, 0 }, q.RawData.ToByteArray());
        var zeroPoints = z.RawData.ToByteArray();
        CollectionAssert.AreEqual(new byte[] { 109, 0, 180 }, zeroPoints);
        var scales = MemoryMarshal.Cast<byte, float>(graph.Initializer.Single(t => t.Name == "W_scale").RawData.Span).ToArray();
        Assert.AreEqual(7f / 255, scales[0], 1e-7f);
        Assert.AreEqual(1f, scales[1]);
        Assert.AreEqual(0.85f / 255, scales[2], 1e-7f);
        AssertWithinHalfStep(q.RawData.ToByteArray().Select(c => (float)c).ToArray(), scales, zeroPoints.Select(b => (float)b).ToArray());
        CollectionAssert.AreEqual(new[] { "Gather", "Cast", "Gather", "Cast", "Sub", "Gather", "Mul" }, graph.Node.Select(n => n.OpType).ToArray());
    }

    // (q − z)·s per element of the 3 × 4 table is within s/2 of w.
    private static void AssertWithinHalfStep(float[] codes, float[] scales, float[] zeroPoints)
    {
        for (int i = 0; i < Small.Length; i++)
        {
            int row = i / 4;
            float w = (codes[i] - zeroPoints[row]) * scales[row];
            Assert.IsTrue(Math.Abs(w - Small[i]) <= scales[row] / 2 * (1 + 1e-6), $"element {i}: {w} vs {Small[i]}, s = {scales[row]}");
        }
    }

    // A [V, D] table whose rows differ in range (row r scaled by (r + 1)/V, row 5 all zero), read by three Gathers:
    // a scalar index, a 1-D and a 2-D [batch, seq] one, with repeated and negative indices.
    private static (TestModels Model, float[] Table) Shared()
    {
        var random = new Random(3);
        var table = new float[V * D];
        for (int i = 0; i < table.Length; i++) table[i] = i / D == 5 ? 0 : (2 * random.NextSingle() - 1) * (i / D + 1) / V;
        var m = new TestModels().Output("y0", D).Output("y1", 5, D).Output("y2", 2, 3, D);
        m.Graph.Input.Add(ValueInfo("i0", [], elementType: 7));
        m.Graph.Input.Add(ValueInfo("i1", [5], elementType: 7));
        m.Graph.Input.Add(ValueInfo("i2", [2, 3], elementType: 7));
        m.Graph.Initializer.Add(Tensor("W", [V, D], table));
        m.Node("Gather", ["W", "i0"], ["y0"]).Node("Gather", ["W", "i1"], ["y1"]).Node("Gather", ["W", "i2"], ["y2"], Int("axis", 0));
        return (m, table);
    }

    private static readonly long[][] Indices = [[7], [0, V - 1, -1, 5, 5], [-V, 10, 10, 25, -2, 0]];

    // Output vs the float model, both ORT levels. Per element the bound is half the step of the row it came from:
    // s/2 with s = max|row|/127 (int8), range/255 (uint8), max|row|/7 or range/15 (4 bits; a block's step is at most its
    // row's), plus 1e-6 for float rounding of the product.
    [TestMethod]
    [DataRow("gather", 8, true)]
    [DataRow("gather", 8, false)]
    [DataRow("gather-block-quantized", 4, true)]
    [DataRow("gather-block-quantized", 4, false)]
    [DataRow("gather-block-quantized", 8, true)]
    [DataRow("gather-block-quantized", 8, false)]
    public void WhenTableIsQuantized_EveryGatheredRowIsWithinHalfAStep(string format, int bits, bool symmetric)
    {
        var (m, table) = Shared();
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Args(("format", format), ("bits", bits), ("symmetric", symmetric), ("min-elements", 1)));
        Assert.AreEqual((1, 1), (result.Matched, result.Rewritten), string.Join("\n", result.Notes));
        var after = PassHarness.Bytes(model);
        var graph = model.Proto.Graph;
        Assert.IsFalse(graph.Initializer.Any(t => t.Name == "W"), "no float copy is left");
        Assert.AreEqual(format == "gather" ? 3 : 0, graph.Node.Count(n => n.OpType == "Mul"));
        Assert.AreEqual(format == "gather" ? 0 : 3, graph.Node.Count(n => n.OpType == "GatherBlockQuantized" && n.Domain == "com.microsoft"));
        Assert.AreEqual(format != "gather", model.Proto.OpsetImport.Any(o => o.Domain == "com.microsoft"));

        // Steps across the range: symmetric codes −127..127 (−7..7) span 2·max|row| in 254 (14), asymmetric 0..255 (0..15).
        double levels = (1 << bits) - (symmetric ? 2 : 1);
        var halfStep = new double[V];
        for (int r = 0; r < V; r++)
        {
            var row = table.AsSpan(r * D, D);
            double range = symmetric ? 2 * Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row))
                : Math.Max(0, System.Numerics.Tensors.TensorPrimitives.Max(row)) - Math.Min(0, System.Numerics.Tensors.TensorPrimitives.Min(row));
            halfStep[r] = range / levels / 2 + 1e-6;
        }
        var feeds = new Dictionary<string, TensorValue>
        {
            ["i0"] = Int64Tensor([], Indices[0]), ["i1"] = Int64Tensor([5], Indices[1]), ["i2"] = Int64Tensor([2, 3], Indices[2]),
        };
        double worst = 0;
        foreach (var level in new[] { OptimizationLevel.Disabled, OptimizationLevel.All })
        {
            var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
            using var original = ModelSession.Open(before, "original", options);
            using var rewritten = ModelSession.Open(after, "rewritten", options);
            var expected = original.Run(feeds);
            var actual = rewritten.Run(feeds, ["y0", "y1", "y2"]);
            for (int o = 0; o < 3; o++)
            {
                CollectionAssert.AreEqual(expected[o].Shape, actual[o].Shape, $"y{o} at {level}");
                Assert.AreEqual(1, actual[o].ElementType);
                var (e, a) = (expected[o].ToFloats(), actual[o].ToFloats());
                for (int i = 0; i < e.Length; i++)
                {
                    long index = Indices[o][i / D];
                    int row = (int)(index < 0 ? index + V : index);
                    double error = Math.Abs(e[i] - a[i]);
                    worst = Math.Max(worst, error / halfStep[row]);
                    Assert.IsTrue(error <= halfStep[row], $"y{o}[{i}] (row {row}) at {level}: {a[i]} vs {e[i]}, bound {halfStep[row]:G3}");
                    if (row == 5) Assert.AreEqual(0f, a[i], "the zero row stays exactly zero");
                }
            }
        }
        TestContext.WriteLine($"{format} {bits} bits symmetric={symmetric}: worst error {worst:P0} of the row's half step");
    }

    [TestMethod]
    public void WhenTwoGathersShareATable_OneQuantizedTableServesBoth_AndSourceBytesStay()
    {
        var (m, _) = Shared();
        var bytes = PassHarness.Bytes(m.Build());
        var copy = bytes.ToArray();
        using var model = CompressTasks.Model.OnnxModel.Parse(bytes);
        var inputs = model.Proto.Graph.Input.Select(i => i.Clone()).ToArray();
        var outputs = model.Proto.Graph.Output.Select(o => o.Clone()).ToArray();
        var result = PassHarness.Run(model, Pass, Args(("min-elements", 1)));
        Assert.AreEqual(1, result.Rewritten);
        var graph = model.Proto.Graph;
        Assert.AreEqual(1, graph.Initializer.Count(t => t.DataType == (int)TensorProto.Types.DataType.Int8), "one int8 table");
        Assert.AreEqual(3, graph.Node.Count(n => n.OpType == "Gather" && n.Input[0] == "W_quantized"), "every reader rewritten");
        CollectionAssert.AreEqual(inputs, graph.Input.ToArray(), "graph inputs unchanged");
        CollectionAssert.AreEqual(outputs, graph.Output.ToArray(), "graph output names and types unchanged");
        CollectionAssert.AreEqual(copy, bytes, "the source model's bytes are not written to");
    }

    [TestMethod]
    [DataRow("gather")]
    [DataRow("gather-block-quantized")]
    public void WhenRunTwiceOnTheSameInput_OutputBytesAreIdentical(string format)
    {
        var (m, _) = Shared();
        var bytes = PassHarness.Bytes(m.Build());
        byte[] Once()
        {
            using var model = CompressTasks.Model.OnnxModel.Parse(bytes);
            PassHarness.Run(model, Pass, Args(("format", format), ("min-elements", 1)));
            return PassHarness.Bytes(model);
        }
        CollectionAssert.AreEqual(Once(), Once());
    }

    [TestMethod]
    [DataRow("matmul", "also read by MatMul")]
    [DataRow("axis1", "gathers along axis 1")]
    [DataRow("output", "is a graph output")]
    [DataRow("graph-input", "also a graph input")]
    [DataRow("small", "fewer than min-elements 65536")]
    [DataRow("nan", "holds NaN or infinity")]
    [DataRow("opset6", "opset 6 has no broadcasting Mul")]
    public void WhenTableCannotBeQuantized_ItStaysFloat32WithAReason(string kind, string reason)
    {
        long[] dims = kind == "small" ? [2, 384] : [V, D];
        var table = new float[dims[0] * dims[1]];
        for (int i = 0; i < table.Length; i++) table[i] = i % 7 * 0.1f - 0.3f;
        if (kind == "nan") table[17] = float.NaN;
        var m = new TestModels(kind == "opset6" ? 6 : 13).Output("y", 2, dims[1]);
        m.Graph.Input.Add(ValueInfo("ids", [2], elementType: 7));
        m.Graph.Initializer.Add(Tensor("W", dims, table));
        m.Node("Gather", ["W", "ids"], ["y"]);
        if (kind == "matmul")
        {
            // Tied weights: the same table as the output projection (y · Wᵀ would be usual; W · [D, 3] is enough here).
            m.Graph.Initializer.Add(Tensor("P", [D, 3], new float[D * 3]));
            m.Output("logits", V, 3).Node("MatMul", ["W", "P"], ["logits"]);
        }
        if (kind == "axis1") m.Graph.Node[0].Attribute.Add(Int("axis", 1));
        if (kind == "output") m.Output("W", V, D);
        if (kind == "graph-input") m.Graph.Input.Add(ValueInfo("W", dims));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, kind == "small" ? Args() : Args(("min-elements", 1)));
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(string.Join("\n", result.Notes), reason);
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model), "the model is untouched");
    }

    // gather: scales [V, 1, 1] broadcast over the trailing axes, |Δ| ≤ max|row|/254 ≤ 0.5/254; gather-block-quantized
    // (4 bits): one block per [v, a] slice of 8 values, scales [V, 3, 1], |Δ| ≤ max|block|/14 ≤ 0.5/14.
    [TestMethod]
    [DataRow("gather", 1L, 0.5 / 254)]
    [DataRow("gather-block-quantized", 3L, 0.5 / 14)]
    public void WhenTableIsAConstantNodeOfRank3_ScalesFollowTheFormat(string format, long middle, double bound)
    {
        var random = new Random(5);
        var values = Enumerable.Range(0, 20 * 3 * 8).Select(_ => random.NextSingle() - 0.5f).ToArray();
        var m = new TestModels().Output("y", 2, 3, 8);
        m.Graph.Input.Add(ValueInfo("ids", [2], elementType: 7));
        m.Node("Constant", [], ["W"], new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Tensor("", [20, 3, 8], values) });
        m.Node("Gather", ["W", "ids"], ["y"]);
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        Assert.AreEqual(1, PassHarness.Run(model, Pass, Args(("format", format), ("min-elements", 1))).Rewritten);
        var graph = model.Proto.Graph;
        Assert.IsFalse(graph.Node.Any(n => n.OpType == "Constant"));
        CollectionAssert.AreEqual(new long[] { 20, middle, 1 }, graph.Initializer.Single(t => t.Name == "W_scale").Dims.ToArray());
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: 0, atol: bound + 1e-6,
            fixedInputs: new Dictionary<string, TensorValue> { ["ids"] = Int64Tensor([2], [19, -20]) });
    }

    [TestMethod]
    public void WhenTableIsReadInsideASubgraph_ItStaysFloat32WithAReason()
    {
        // If(cond): then gathers from the main graph's W, else returns zeros.
        var then = new GraphProto { Name = "then" };
        var otherwise = new GraphProto { Name = "else" };
        var m = new TestModels().Output("y", 2, D);
        m.Graph.Input.Add(ValueInfo("ids", [2], elementType: 7));
        m.Graph.Input.Add(ValueInfo("cond", [], elementType: 9));
        m.Graph.Initializer.Add(Tensor("W", [V, D], new float[V * D]));
        m.Graph.Initializer.Add(Tensor("zeros", [2, D], new float[2 * D]));
        m.Node(then, "Gather", ["W", "ids"], ["yt"]).Node(otherwise, "Identity", ["zeros"], ["ye"]);
        then.Output.Add(ValueInfo("yt", [2, D]));
        otherwise.Output.Add(ValueInfo("ye", [2, D]));
        m.Node("If", ["cond"], ["y"], GraphAttribute("then_branch", then), GraphAttribute("else_branch", otherwise));
        using var model = m.Build();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Args(("min-elements", 1)));
        Assert.AreEqual(0, result.Rewritten);
        StringAssert.Contains(string.Join("\n", result.Notes), "inside a subgraph");
        CollectionAssert.AreEqual(before, PassHarness.Bytes(model));
    }

    private static TensorValue Int64Tensor(long[] shape, long[] values) => new(7, shape, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
}
