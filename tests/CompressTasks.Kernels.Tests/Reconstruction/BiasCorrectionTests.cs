using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class BiasCorrectionTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(4)]
    [DataRow(3)]
    public void WhenTheShiftIsAddedToTheBias_TheMeanOutputShiftIsZero(int bits)
    {
        var layer = new CorrelatedLayer(96, 32, 400, seed: 31 + bits);
        var quantized = new float[layer.W.Length];
        new LinearWeightQuantizer(layer.K, layer.N, bits, symmetric: false, groupSize: 32).QuantizeNearest(layer.W, quantized);
        var before = layer.MeanShift(quantized);

        // ŷ − y = (Ŵ − W)ᵀ x + Δb; the correction Δb = (W − Ŵ)ᵀ μ cancels its mean.
        var correction = new float[layer.N];
        BiasCorrection.OutputShift(layer.W, quantized, layer.K, layer.N, layer.Mean, correction);
        var after = layer.MeanShift(quantized, correction);

        double worstBefore = before.Max(Math.Abs), worstAfter = after.Max(Math.Abs);
        double scale = Math.Sqrt(layer.H.Where((_, i) => i % (layer.K + 1) == 0).Sum() / layer.Samples) * 0.1;
        TestContext.WriteLine($"int{bits}: max |mean output shift| {worstBefore:E3} → {worstAfter:E3} (output scale ≈ {scale:F3})");
        Assert.IsTrue(worstBefore > 1e-3 * scale, "rounding shifted the mean output to begin with");
        Assert.IsTrue(worstAfter < 1e-5 * scale, $"{worstAfter}");
    }
}
