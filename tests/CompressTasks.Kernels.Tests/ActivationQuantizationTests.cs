namespace CompressTasks.Kernels.Tests;

[TestClass]
public sealed class ActivationQuantizationTests
{
    [TestMethod]
    public void WhenRangeStartsAtZero_ZeroPointIsTheIntegerMinimum()
    {
        // [0, 2.55] → s = 0.01; uint8 z = 0, int8 z = −128: QuantizeLinear's saturation then is a Relu.
        Assert.AreEqual((2.55f / 255, 0), ActivationQuantization.FromRange(0, 2.55f, signed: false));
        Assert.AreEqual((2.55f / 255, -128), ActivationQuantization.FromRange(0, 2.55f, signed: true));
    }

    [TestMethod]
    public void WhenRangeStraddlesZero_ZeroIsExact()
    {
        // [−1, 1.55]: s = 2.55/255 = 0.01, z = round(0 − (−1)/0.01) = 100 (uint8), −28 (int8).
        var (s, z) = ActivationQuantization.FromRange(-1f, 1.55f, signed: false);
        Assert.AreEqual(0.01f, s, 1e-7f);
        Assert.AreEqual(100, z);
        Assert.AreEqual(-28, ActivationQuantization.FromRange(-1f, 1.55f, signed: true).ZeroPoint);
        // A range that excludes zero is widened to it: [2, 5.1] behaves as [0, 5.1].
        Assert.AreEqual(ActivationQuantization.FromRange(0, 5.1f, false), ActivationQuantization.FromRange(2, 5.1f, false));
        Assert.AreEqual((1f, 0), ActivationQuantization.FromRange(0, 0, false), "all zeros: any scale works");
    }

    [TestMethod]
    public void WhenBiasIsQuantized_ScaleIsInputTimesWeightScale()
    {
        // s_x = 0.5, s_w = [1/8, 1/32] → s_b = [1/16, 1/64] (exact in binary); 1 / (1/16) = 16, −0.1953125 · 64 = −12.5 → −12 (half to even).
        var q = new int[2];
        var scales = new float[2];
        Assert.IsTrue(ActivationQuantization.QuantizeBias([1.0f, -0.1953125f], 0.5f, [0.125f, 0.03125f], q, scales));
        CollectionAssert.AreEqual(new[] { 0.0625f, 0.015625f }, scales);
        CollectionAssert.AreEqual(new[] { 16, -12 }, q);
        // One weight scale serves every channel.
        var one = new float[1];
        Assert.IsTrue(ActivationQuantization.QuantizeBias([1f, 2f], 0.5f, [0.5f], q, one));
        CollectionAssert.AreEqual(new[] { 4, 8 }, q);
    }

    [TestMethod]
    public void WhenBiasOverflowsInt32_ItIsRefused()
    {
        var q = new int[1];
        Assert.IsFalse(ActivationQuantization.QuantizeBias([1e6f], 1e-3f, [1e-6f], q, new float[1]), "1e6 / 1e-9 = 1e15");
    }
}
