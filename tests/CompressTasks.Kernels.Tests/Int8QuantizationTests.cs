namespace CompressTasks.Kernels.Tests;

[TestClass]
public sealed class Int8QuantizationTests
{
    [TestMethod]
    public void WhenSymmetricPerTensor_ScaleIsMaxAbsOver127AndRoundingIsHalfToEven()
    {
        // max|w| = 127 → s = 1, so q = round(w): 2.5 → 2, 3.5 → 4, −2.5 → −2, −0.5 → 0 (half to even).
        float[] w = [127f, 2.5f, 3.5f, -2.5f, -0.5f, -126.6f];
        var scale = new float[1];
        Int8Quantization.ComputeSymmetricScales(w, 1, w.Length, scale);
        Assert.AreEqual(1f, scale[0]);
        var q = new sbyte[w.Length];
        Int8Quantization.QuantizeSymmetric(w, scale, 1, w.Length, q);
        CollectionAssert.AreEqual(new sbyte[] { 127, 2, 4, -2, 0, -127 }, q);
    }

    [TestMethod]
    public void WhenValuesExceedTheScale_TheySaturate()
    {
        float[] w = [200f, -200f, 126.4f, -127.6f];
        var q = new sbyte[4];
        Int8Quantization.QuantizeSymmetric(w, [1f], 1, 4, q);
        CollectionAssert.AreEqual(new sbyte[] { 127, -127, 126, -127 }, q, "symmetric never uses −128");
        var u = new byte[4];
        Int8Quantization.QuantizeAsymmetric(w, [1f], [100], 1, 4, u);
        CollectionAssert.AreEqual(new byte[] { 255, 0, 226, 0 }, u);
    }

    [TestMethod]
    public void WhenAsymmetric_RangeIncludesZeroAndZeroPointIsExact()
    {
        // Range [−0.5, 2]: s = 2.5/255, z = round(0.5/s) = 51; −0.5 → 0, 0 → 51, 2 → 255.
        float[] w = [-0.5f, 0f, 2f];
        var scale = new float[1];
        var zero = new byte[1];
        Int8Quantization.ComputeAsymmetricParameters(w, 1, 3, scale, zero);
        Assert.AreEqual(2.5f / 255, scale[0], 1e-9f);
        Assert.AreEqual(51, zero[0]);
        var q = new byte[3];
        Int8Quantization.QuantizeAsymmetric(w, scale, zero, 1, 3, q);
        CollectionAssert.AreEqual(new byte[] { 0, 51, 255 }, q);

        // All positive: the range widens down to 0, so z = 0 and s = max/255.
        Int8Quantization.ComputeAsymmetricParameters([1f, 5.1f], 1, 2, scale, zero);
        Assert.AreEqual((0.02f, (byte)0), (scale[0], zero[0]));
        // All negative: widens up to 0, so z = 255.
        Int8Quantization.ComputeAsymmetricParameters([-2.55f, -1f], 1, 2, scale, zero);
        Assert.AreEqual((0.01f, (byte)255), (scale[0], zero[0]));
    }

    [TestMethod]
    public void WhenChannelIsAllZero_ScaleIsOne()
    {
        var scales = new float[2];
        Int8Quantization.ComputeSymmetricScales([0f, 0f, 2.54f, -1f], 1, 2, scales);
        CollectionAssert.AreEqual(new[] { 1f, 0.02f }, scales);
    }

    [TestMethod]
    public void WhenPerChannelOnAxis0_EachRowBlockHasItsOwnScale()
    {
        // Conv-like [2 channels, 3 inner]: channel 0 max 1.27 → 0.01, channel 1 max 254 → 2.
        float[] w = [1.27f, -0.5f, 0.005f, 254f, -3f, 1f];
        var scales = new float[2];
        Int8Quantization.ComputeSymmetricScales(w, 1, 3, scales);
        Assert.AreEqual(0.01f, scales[0], 1e-9f);
        Assert.AreEqual(2f, scales[1]);
        var q = new sbyte[6];
        Int8Quantization.QuantizeSymmetric(w, scales, 1, 3, q);
        // 0.005/0.01 = 0.5 → 0 (even); −3/2 = −1.5 → −2 (even); 1/2 = 0.5 → 0.
        CollectionAssert.AreEqual(new sbyte[] { 127, -50, 0, 127, -2, 0 }, q);
    }

    [TestMethod]
    public void WhenPerChannelOnLastAxis_EachColumnHasItsOwnScale()
    {
        // MatMul-like [K=3, N=2] with channels on axis 1 (outer = 3, inner = 1): column 0 max 12.7, column 1 max 0.254.
        float[] w = [12.7f, 0.1f, -5f, -0.254f, 0.05f, 0.002f];
        var scales = new float[2];
        Int8Quantization.ComputeSymmetricScales(w, 3, 1, scales);
        Assert.AreEqual(0.1f, scales[0], 1e-7f);
        Assert.AreEqual(0.002f, scales[1], 1e-9f);
        var q = new sbyte[6];
        Int8Quantization.QuantizeSymmetric(w, scales, 3, 1, q);
        CollectionAssert.AreEqual(new sbyte[] { 127, 50, -50, -127, 0, 1 }, q);

        var zero = new byte[2];
        Int8Quantization.ComputeAsymmetricParameters(w, 3, 1, scales, zero);
        Assert.AreEqual(17.7f / 255, scales[0], 1e-7f);
        Assert.AreEqual(0.354f / 255, scales[1], 1e-9f);
        Assert.AreEqual(((byte)72, (byte)183), (zero[0], zero[1]), "round(5/s0) = 72.03, round(0.254/s1) = 182.97");
    }

    [TestMethod]
    [DataRow(1, 1, 1, true)]
    [DataRow(1, 1, 257, false)]
    [DataRow(1, 16, 9, true)]
    [DataRow(1, 16, 9, false)]
    [DataRow(64, 33, 1, true)]
    [DataRow(64, 33, 1, false)]
    [DataRow(3, 5, 7, true)]
    [DataRow(3, 5, 7, false)]
    public void WhenRoundTripped_ErrorIsAtMostHalfAScale(int outer, int channels, int inner, bool symmetric)
    {
        var random = new Random(outer * 1000 + channels * 10 + inner);
        var w = new float[outer * channels * inner];
        for (int i = 0; i < w.Length; i++) w[i] = (random.NextSingle() - 0.3f) * (1 + i % channels);
        var scales = new float[channels];
        var back = new float[w.Length];
        var zero = new byte[channels];
        if (symmetric)
        {
            Int8Quantization.ComputeSymmetricScales(w, outer, inner, scales);
            var q = new sbyte[w.Length];
            Int8Quantization.QuantizeSymmetric(w, scales, outer, inner, q);
            Int8Quantization.DequantizeSymmetric(q, scales, outer, inner, back);
        }
        else
        {
            Int8Quantization.ComputeAsymmetricParameters(w, outer, inner, scales, zero);
            var q = new byte[w.Length];
            Int8Quantization.QuantizeAsymmetric(w, scales, zero, outer, inner, q);
            Int8Quantization.DequantizeAsymmetric(q, scales, zero, outer, inner, back);
        }
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < inner; i++)
                {
                    int k = (o * channels + c) * inner + i;
                    // s/2 plus float rounding of w/s and of (q − z)·s: a few ulps of the values involved.
                    float bound = scales[c] / 2 * (1 + 1e-5f) + 1e-6f * Math.Abs(w[k]);
                    Assert.IsTrue(Math.Abs(back[k] - w[k]) <= bound, $"[{o},{c},{i}]: {w[k]} → {back[k]}, scale {scales[c]}");
                }
    }

    [TestMethod]
    public void WhenShapesDisagree_ItThrows()
    {
        Assert.ThrowsExactly<ArgumentException>(() => Int8Quantization.ComputeSymmetricScales(new float[5], 1, 2, new float[2]));
        Assert.ThrowsExactly<ArgumentException>(() => Int8Quantization.QuantizeSymmetric(new float[4], new float[2], 1, 2, new sbyte[3]));
        Assert.ThrowsExactly<ArgumentException>(() => Int8Quantization.ComputeAsymmetricParameters(new float[4], 1, 2, new float[2], new byte[1]));
    }

    [TestMethod]
    public void WhenRangeIsReducedTo7Bits_CodesStayWithinHalfTheRange()
    {
        // Symmetric, maximum 63: max|w| = 63 → s = 1; −31.5 → −32 (half to even), 1.5 → 2.
        float[] w = [63f, -31.5f, 1.5f];
        var scale = new float[1];
        Int8Quantization.ComputeSymmetricScales(w, 1, 3, scale, maximum: 63);
        Assert.AreEqual(1f, scale[0]);
        var q = new sbyte[3];
        Int8Quantization.QuantizeSymmetric(w, scale, 1, 3, q);
        CollectionAssert.AreEqual(new sbyte[] { 63, -32, 2 }, q);

        // Asymmetric, maximum 127: range [−1, 1.54] → s = 2.54/127 = 0.02, z = round(1/0.02) = 50; 1.54 → 77 + 50 = 127.
        float[] a = [-1f, 0f, 1.54f];
        var zero = new byte[1];
        Int8Quantization.ComputeAsymmetricParameters(a, 1, 3, scale, zero, maximum: 127);
        Assert.AreEqual(0.02f, scale[0], 1e-8f);
        Assert.AreEqual(50, zero[0]);
        var u = new byte[3];
        Int8Quantization.QuantizeAsymmetric(a, scale, zero, 1, 3, u, maximum: 127);
        CollectionAssert.AreEqual(new byte[] { 0, 50, 127 }, u);
        Int8Quantization.QuantizeAsymmetric([200f], [1f], [0], 1, 1, u.AsSpan(0, 1), maximum: 127);
        Assert.AreEqual(127, u[0], "saturates at the reduced maximum");
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Int8Quantization.ComputeSymmetricScales(w, 1, 3, scale, maximum: 128));
    }
}
