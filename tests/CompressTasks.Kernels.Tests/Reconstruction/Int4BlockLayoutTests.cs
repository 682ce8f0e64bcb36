using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class Int4BlockLayoutTests
{
    public TestContext TestContext { get; set; } = null!;

    // The weights include an all-zero block, exact halves of the scale (ties, rounded to even), negative zeros and
    // K not divisible by the block (a short last block), so every branch of both formulas is compared.
    [TestMethod]
    [DataRow(96, 40, 32, true)]
    [DataRow(96, 40, 32, false)]
    [DataRow(80, 24, 32, true)]
    [DataRow(80, 24, 32, false)]
    [DataRow(48, 16, 64, true)]
    [DataRow(48, 16, 16, false)]
    public void WhenRoundingToNearest_TheQuantizerGivesExactlyInt4QuantizationsCodesScalesAndZeroPoints(int k, int n, int block, bool symmetric)
    {
        var w = Weights(k, n, seed: k + n + block);
        var quantizer = new LinearWeightQuantizer(k, n, 4, symmetric, block);
        quantizer.QuantizeNearest(w, []);
        int blocks = Int4Quantization.BlockCount(k, block);
        var codes = new byte[k * n];
        var scales = new float[n * blocks];
        var zeroPoints = new byte[n * blocks];
        Int4BlockLayout.FromQuantizer(quantizer, codes, scales, zeroPoints);

        var rows = new float[w.Length];
        Int4Quantization.Transpose<float>(w, k, n, rows);
        var expectedScales = new float[n * blocks];
        var expectedZero = new byte[n * blocks];
        var expectedCodes = new byte[k * n];
        Int4Quantization.ComputeParameters(rows, n, k, block, symmetric, expectedScales, expectedZero);
        Int4Quantization.Quantize(rows, n, k, block, expectedScales, expectedZero, expectedCodes);

        CollectionAssert.AreEqual(expectedScales, scales, "scales, bit for bit");
        CollectionAssert.AreEqual(expectedZero, zeroPoints, "zero points");
        CollectionAssert.AreEqual(expectedCodes, codes, "codes");
        Assert.IsTrue(codes.All(c => c <= Int4Quantization.CodeMax));
        TestContext.WriteLine($"[{k}, {n}] block {block} symmetric {symmetric}: {codes.Length} codes, {scales.Length} scales equal; codes used {codes.Min()}…{codes.Max()}");
    }

    [TestMethod]
    public void WhenTheQuantizerIsNotFourBits_ItIsRefused()
    {
        var quantizer = new LinearWeightQuantizer(32, 4, 8, true, 32);
        Assert.ThrowsExactly<ArgumentException>(() => Int4BlockLayout.FromQuantizer(quantizer, new byte[128], new float[4], new byte[4]));
    }

    private static float[] Weights(int k, int n, int seed)
    {
        var random = new Random(seed);
        var w = new float[k * n];
        for (int i = 0; i < w.Length; i++) w[i] = random.NextSingle() * 2 - 1;
        // Column 0, first block: all zeros (s = 1); column 1: ties at ±s/2 (max 7, so s = 1 symmetric); column 2: −0.
        for (int r = 0; r < Math.Min(16, k); r++)
        {
            w[r * n] = 0;
            w[r * n + 1] = r == 0 ? 7f : (r % 4 - 2) + 0.5f;
            w[r * n + 2] = r % 2 == 0 ? -0f : 0.25f * r;
        }
        return w;
    }
}
