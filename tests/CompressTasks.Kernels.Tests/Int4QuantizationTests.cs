namespace CompressTasks.Kernels.Tests;

[TestClass]
public sealed class Int4QuantizationTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void WhenSymmetric_ScaleIsMaxAbsOver7AndCodesAreOffsetBy8WithHalfToEven()
    {
        // One row, one block of 8: max|w| = 7 → s = 1, c = round(w) + 8: 2.5 → 2, 3.5 → 4, −2.5 → −2, −0.5 → 0 (half to even).
        float[] w = [7f, 2.5f, 3.5f, -2.5f, -0.5f, -6.6f, 0f, -7f];
        var (scales, zero, codes) = Quantize(w, 1, 8, 8, symmetric: true);
        Assert.AreEqual((1f, (byte)8), (scales[0], zero[0]));
        CollectionAssert.AreEqual(new byte[] { 15, 10, 12, 6, 8, 1, 8, 1 }, codes);
    }

    [TestMethod]
    public void WhenAsymmetric_RangeIncludesZeroAndZeroPointIsExact()
    {
        // Range [−0.5, 1]: s = 1.5/15 = 0.1, z = round(0.5/0.1) = 5; −0.5 → 0, 0 → 5, 1 → 15, 0.25 → round(2.5) + 5 = 7.
        float[] w = [-0.5f, 0f, 1f, 0.25f];
        var (scales, zero, codes) = Quantize(w, 1, 4, 4, symmetric: false);
        Assert.AreEqual(0.1f, scales[0], 1e-7f);
        Assert.AreEqual((byte)5, zero[0]);
        CollectionAssert.AreEqual(new byte[] { 0, 5, 15, 7 }, codes);

        // All positive: the range widens down to 0 (z = 0); all negative: up to 0 (z = 15); all zero: s = 1.
        Assert.AreEqual((0.2f, (byte)0), Params([1f, 3f]));
        Assert.AreEqual((0.1f, (byte)15), Params([-1.5f, -0.5f]));
        Assert.AreEqual((1f, (byte)0), Params([0f, 0f]));

        static (float, byte) Params(float[] w)
        {
            var (s, z, _) = Quantize(w, 1, w.Length, w.Length, symmetric: false);
            return (MathF.Round(s[0], 6), z[0]);
        }
    }

    [TestMethod]
    public void WhenValuesLieOutsideTheScale_TheySaturateAt0And15()
    {
        var codes = new byte[4];
        Int4Quantization.Quantize([100f, -100f, 6.4f, -8.6f], 1, 4, 4, [1f], [8], codes);
        CollectionAssert.AreEqual(new byte[] { 15, 0, 14, 0 }, codes);
    }

    [TestMethod]
    public void WhenKIsNotAMultipleOfTheBlock_TheLastBlockIsShorterAndPaddedWithItsZeroPoint()
    {
        // Two rows of k = 5 with B = 4: blocks [0..3] and [4]; row 1's short block is all positive (z = 0).
        float[] w = [1f, -2f, 3f, -4f, 0.7f, 8f, 8f, 8f, 8f, 3f];
        var (scales, zero, codes) = Quantize(w, 2, 5, 4, symmetric: false);
        Assert.AreEqual(4, scales.Length);
        Assert.AreEqual(3f / 15, scales[3], 1e-7f, "the short block has its own range [0, 3]");
        var packed = new byte[2 * 2 * 2];
        Int4Quantization.PackBlocks(codes, 2, 5, 4, zero, packed);
        // Row 0 block 1: code of 0.7, then 3 padding positions holding z.
        Assert.AreEqual((byte)(codes[4] | (zero[1] << 4)), packed[2]);
        Assert.AreEqual((byte)(zero[1] | (zero[1] << 4)), packed[3]);
        Assert.AreEqual((byte)(codes[9] | (zero[3] << 4)), packed[6]);
        var back = new float[w.Length];
        Int4Quantization.Dequantize(codes, 2, 5, 4, scales, zero, back);
        for (int i = 0; i < w.Length; i++) Assert.IsTrue(Math.Abs(back[i] - w[i]) <= scales[(i / 5) * 2 + (i % 5) / 4] / 2 * 1.0001, $"w[{i}]");
    }

    [TestMethod]
    public void PackNibbles_PutsTheFirstValueInTheLowNibble()
    {
        var packed = new byte[3];
        Int4Quantization.PackNibbles([0x1, 0x2, 0xA, 0xF, 0x7], packed);
        CollectionAssert.AreEqual(new byte[] { 0x21, 0xFA, 0x07 }, packed, "an odd count leaves the last high nibble 0");
        var values = new byte[5];
        Int4Quantization.UnpackNibbles(packed, values);
        CollectionAssert.AreEqual(new byte[] { 0x1, 0x2, 0xA, 0xF, 0x7 }, values);
    }

    [TestMethod]
    public void PackBlocks_PacksEachBlockAlongK()
    {
        // One row, k = 8, B = 4: codes 0..7 → block 0 bytes 0x10, 0x32; block 1 bytes 0x54, 0x76.
        var packed = new byte[4];
        Int4Quantization.PackBlocks([0, 1, 2, 3, 4, 5, 6, 7], 1, 8, 4, [8, 8], packed);
        CollectionAssert.AreEqual(new byte[] { 0x10, 0x32, 0x54, 0x76 }, packed);
    }

    [TestMethod]
    public void OffsetToSigned_GivesTwosComplementNibbles()
    {
        byte[] codes = [8, 15, 1, 0, 9];
        Int4Quantization.OffsetToSigned(codes);
        // c − 8: 0, 7, −7 (0b1001), −8 (0b1000), 1.
        CollectionAssert.AreEqual(new byte[] { 0, 7, 9, 8, 1 }, codes);
    }

    [TestMethod]
    public void Transpose_SwapsRowsAndColumns()
    {
        var t = new int[6];
        Int4Quantization.Transpose<int>([1, 2, 3, 4, 5, 6], 2, 3, t);
        CollectionAssert.AreEqual(new[] { 1, 4, 2, 5, 3, 6 }, t);
        var big = Enumerable.Range(0, 70 * 45).ToArray();
        var bigT = new int[big.Length];
        Int4Quantization.Transpose<int>(big, 70, 45, bigT);
        Assert.AreEqual(big[13 * 45 + 44], bigT[44 * 70 + 13], "across tile edges");
    }

    [TestMethod]
    [DataRow(true, 32, 96)]
    [DataRow(false, 32, 96)]
    [DataRow(true, 64, 100)]
    [DataRow(false, 128, 300)]
    [DataRow(false, 16, 1)]
    public void RoundTrip_ErrorIsAtMostHalfAScale(bool symmetric, int blockSize, int k)
    {
        const int Rows = 7;
        var random = new Random(k + blockSize);
        var w = new float[Rows * k];
        for (int i = 0; i < w.Length; i++) w[i] = (random.NextSingle() - 0.3f) * (1 + i % 5);
        var (scales, zero, codes) = Quantize(w, Rows, k, blockSize, symmetric);
        var back = new float[w.Length];
        Int4Quantization.Dequantize(codes, Rows, k, blockSize, scales, zero, back);
        int blocks = Int4Quantization.BlockCount(k, blockSize);
        double worst = 0;
        for (int r = 0; r < Rows; r++)
        {
            for (int i = 0; i < k; i++)
            {
                float s = scales[r * blocks + i / blockSize];
                double ratio = Math.Abs(back[r * k + i] - w[r * k + i]) / s;
                worst = Math.Max(worst, ratio);
                Assert.IsTrue(ratio <= 0.5 + 1e-5, $"[{r}, {i}]: |w' − w| = {ratio:F6}·s");
            }
        }
        TestContext.WriteLine($"symmetric {symmetric}, B {blockSize}, k {k}: worst |w' − w| = {worst:F4}·s");
    }

    private static (float[] Scales, byte[] Zero, byte[] Codes) Quantize(float[] w, int rows, int k, int blockSize, bool symmetric)
    {
        int n = rows * Int4Quantization.BlockCount(k, blockSize);
        var scales = new float[n];
        var zero = new byte[n];
        var codes = new byte[w.Length];
        Int4Quantization.ComputeParameters(w, rows, k, blockSize, symmetric, scales, zero);
        Int4Quantization.Quantize(w, rows, k, blockSize, scales, zero, codes);
        return (scales, zero, codes);
    }
}
