using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Pruning;
using CompressTasks.Passes.Quantization;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using static CompressTasks.Passes.Tests.TestModels;

namespace CompressTasks.Passes.Tests.Pruning;

[TestClass]
public sealed class ClipWeightsTests
{
    private static readonly ClipWeights Pass = new();

    public TestContext TestContext { get; set; } = null!;

    private static PassArguments Args(params (string Name, object Value)[] values) =>
        new(Pass.Descriptor, values.Append(("min-elements", 64)).Select(v => new KeyValuePair<string, object>(v.Name, v.Value)));

    // W [64, 32] for a MatMul: uniform in [−1, 1) with outliers planted at column 3 (row 0: +8, row 1: −6).
    private static OnnxModel WithOutliers()
    {
        var m = new TestModels().Input("x", 4, 64).Output("y", 4, 32);
        var random = new Random(1);
        var w = Enumerable.Range(0, 64 * 32).Select(_ => random.NextSingle() * 2 - 1).ToArray();
        w[3] = 8;
        w[32 + 3] = -6;
        m.Graph.Initializer.Add(Tensor("W", [64, 32], w));
        m.Node("MatMul", ["x", "W"], ["y"]);
        return m.Build();
    }

    private static float[] W(OnnxModel model) => Graphs.Graph.Open(model).GetConstant("W").AsFloat().ToArray();

    [TestMethod]
    public void WhenClippingAtAPercentile_ExactlyTheTailIsClampedToTheBound()
    {
        using var model = WithOutliers();
        var original = W(model);
        var result = PassHarness.Run(model, Pass, Args(("percentile", 0.9995)));
        var clipped = W(model);
        // ⌈0.9995·2048⌉ = 2047: only the largest magnitude (8) changes, to the second largest (6).
        Assert.AreEqual(1, result.Rewritten);
        Assert.AreEqual(6f, clipped[3]);
        Assert.AreEqual(1, original.Where((v, i) => clipped[i] != v).Count());
        StringAssert.Contains(result.Notes.Single(), "clipped 1 of 2,048");
        TestContext.WriteLine(result.Notes.Single());
    }

    [TestMethod]
    [DataRow("tensor")]
    [DataRow("channel")]
    public void WhenClippingBySigma_ValuesOutsideKSigmaAreClamped(string per)
    {
        using var model = WithOutliers();
        var original = W(model);
        var result = PassHarness.Run(model, Pass, Args(("method", "sigma"), ("sigma", 3.0), ("per", per)));
        var clipped = W(model);
        TestContext.WriteLine(result.Notes.Single());
        Assert.IsTrue(clipped[3] < 8 && clipped[32 + 3] > -6, "both outliers clamped");
        // Uniform values on [−1, 1) never leave μ ± 3σ ≈ ±1.7 (per tensor or per column), so only the two planted
        // outliers change: per tensor both clamp to ≈ ±1.84; per channel to column 3's own, wider, range.
        int changedOutsideColumn3 = original.Where((v, i) => i % 32 != 3 && clipped[i] != v).Count();
        Assert.AreEqual(0, changedOutsideColumn3);
    }

    [TestMethod]
    public void WhenOutliersAreClippedBeforeInt8_QuantizationErrorOfTheBulkShrinks()
    {
        using var plain = WithOutliers();
        using var clipped = WithOutliers();
        var original = W(plain);
        PassHarness.Run(clipped, Pass, Args(("method", "sigma"), ("sigma", 3.0)));
        var quantize = new QuantizeWeightsInt8();
        var qArgs = new PassArguments(quantize.Descriptor, [new("per-channel", false), new("min-elements", 64)]);
        PassHarness.Run(plain, quantize, qArgs);
        PassHarness.Run(clipped, quantize, qArgs);
        // Mean |dequantized − original| over the 2,046 values that are not outliers: the scale max|w|/127 shrinks
        // from 8/127 to about 1.84/127, so the rounding error of the bulk shrinks by about 4×.
        double BulkError(OnnxModel model)
        {
            var g = Graphs.Graph.Open(model);
            var q = g.GetConstant("W_quantized").AsSByte();
            float scale = g.GetConstant("W_scale").AsFloat()[0];
            double sum = 0;
            for (int i = 0; i < original.Length; i++) if (i is not 3 and not 35) sum += Math.Abs(q[i] * scale - original[i]);
            return sum / (original.Length - 2);
        }
        double errorPlain = BulkError(plain), errorClipped = BulkError(clipped);
        TestContext.WriteLine($"per-tensor int8, mean error of the non-outlier weights: {errorPlain:E3} without clipping, {errorClipped:E3} after clip-weights sigma 3 ({errorPlain / errorClipped:F1}× smaller)");
        Assert.IsTrue(errorPlain / errorClipped > 3, $"{errorPlain / errorClipped:F2}");
    }

    [TestMethod]
    public void WhenNothingIsOutsideTheRange_TheWeightIsUnchanged()
    {
        using var model = WithOutliers();
        var before = PassHarness.Bytes(model);
        var result = PassHarness.Run(model, Pass, Args(("percentile", 1.0)));
        Assert.AreEqual((1, 0), (result.Matched, result.Rewritten));
        PassHarness.AssertSameOutputs(before, PassHarness.Bytes(model), rtol: 0, atol: 0);
    }
}
