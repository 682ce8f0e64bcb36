using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class ConvPatchesTests
{
    [TestMethod]
    [DataRow(3, 3, 1, 1, 1, 1, 1, 1, 1, 1, "NOTSET", 1)]
    [DataRow(3, 2, 2, 1, 1, 2, 2, 0, 1, 1, "NOTSET", 2)]
    [DataRow(3, 3, 2, 2, 2, 1, 0, 0, 0, 0, "SAME_UPPER", 4)]
    [DataRow(2, 3, 3, 2, 1, 1, 0, 0, 0, 0, "SAME_LOWER", 1)]
    [DataRow(1, 1, 2, 2, 1, 1, 0, 0, 0, 0, "VALID", 2)]
    [DataRow(1, 3, 1, 2, 1, 2, 0, 1, 0, 2, "NOTSET", 1)]
    public void WhenPatchesAreAccumulated_HEqualsTheNaiveSumOverEveryPatch(int kh, int kw, int sh, int sw, int dh, int dw,
        int top, int left, int bottom, int right, string autoPad, int groups)
    {
        var g = new ConvGeometry(kh, kw, sh, sw, dh, dw, top, left, bottom, right, autoPad, groups);
        const int n = 2, c = 4, height = 7, width = 6;
        var random = new Random(kh * 100 + kw * 10 + groups);
        var x = new float[n * c * height * width];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle() * 2 - 1;
        int k = g.Features(c);
        var h = new double[groups * k * k];
        var sum = new double[groups * k];
        // Two calls (images split) add up to one over both images.
        int plane = c * height * width;
        long patches = ConvPatches.Accumulate(x.AsSpan(0, plane), 1, c, height, width, g, h, sum)
            + ConvPatches.Accumulate(x.AsSpan(plane), 1, c, height, width, g, h, sum);

        var (expectedH, expectedSum, count) = Naive(x, n, c, height, width, g);
        Assert.AreEqual(count, patches);
        for (int i = 0; i < h.Length; i++) Assert.AreEqual(expectedH[i], h[i], 1e-4, $"H entry {i}");
        for (int i = 0; i < sum.Length; i++) Assert.AreEqual(expectedSum[i], sum[i], 1e-4, $"sum {i}");
    }

    [TestMethod]
    public void WhenTheWeightIsReadAsRows_TheQuadraticFormIsTheSquaredConvOutput()
    {
        // Σ over outputs y² = Σ_g tr(W_g H_g W_gᵀ), W_g the stored rows [M/g, K]: the patch order is the weight's.
        var g = new ConvGeometry(3, 2, 2, 1, 1, 2, 1, 0, 1, 1, Group: 2);
        const int n = 2, c = 4, m = 6, height = 7, width = 6;
        var random = new Random(3);
        var x = new float[n * c * height * width];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle() * 2 - 1;
        int k = g.Features(c);
        var w = new float[m * k];
        for (int i = 0; i < w.Length; i++) w[i] = random.NextSingle() * 2 - 1;
        var h = new double[2 * k * k];
        ConvPatches.Accumulate(x, n, c, height, width, g, h, new double[2 * k]);

        double fromH = 0;
        int perGroup = m / 2;
        for (int group = 0; group < 2; group++)
            for (int o = 0; o < perGroup; o++)
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        fromH += (double)w[(group * perGroup + o) * k + a] * h[group * k * k + a * k + b] * w[(group * perGroup + o) * k + b];

        var (top, left, outH, outW) = g.Resolve(height, width);
        double direct = 0;
        for (int image = 0; image < n; image++)
            for (int o = 0; o < m; o++)
                for (int oh = 0; oh < outH; oh++)
                    for (int ow = 0; ow < outW; ow++)
                    {
                        int group = o / perGroup;
                        double y = 0;
                        for (int ci = 0; ci < c / 2; ci++)
                            for (int i = 0; i < 3; i++)
                                for (int j = 0; j < 2; j++)
                                {
                                    int ih = oh * 2 - top + i, iw = ow - left + j * 2;
                                    if (ih < 0 || ih >= height || iw < 0 || iw >= width) continue;
                                    y += (double)w[((o * (c / 2) + ci) * 3 + i) * 2 + j] * x[((image * c + group * (c / 2) + ci) * height + ih) * width + iw];
                                }
                        direct += y * y;
                    }
        Assert.AreEqual(direct, fromH, 1e-6 * direct);
    }

    [TestMethod]
    [DataRow(224, 7, 2, 3, 3, "NOTSET", 112)]
    [DataRow(56, 3, 1, 1, 1, "NOTSET", 56)]
    [DataRow(56, 1, 2, 0, 0, "NOTSET", 28)]
    [DataRow(7, 3, 2, 0, 0, "SAME_UPPER", 4)]
    [DataRow(7, 3, 2, 0, 0, "VALID", 3)]
    public void WhenResolved_TheOutputSizeIsTheOnnxOne(int size, int kernel, int stride, int begin, int end, string autoPad, int expected)
    {
        var g = new ConvGeometry(kernel, kernel, stride, stride, PadTop: begin, PadLeft: begin, PadBottom: end, PadRight: end, AutoPad: autoPad);
        Assert.AreEqual(expected, g.Resolve(size, size).OutH);
    }

    [TestMethod]
    public void WhenTheInputIsLarge_TheChunkedParallelGatherEqualsTheSerialOne()
    {
        // 2 × 64 × 80 × 80 with a 3 × 3 kernel: K = 576 and 12800 patches, past the parallel threshold and into two chunks
        // (one image alone fits one).
        var g = new ConvGeometry(3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1);
        const int n = 2, c = 64, size = 80;
        var random = new Random(9);
        var x = new float[n * c * size * size];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle();
        int k = g.Features(c);
        var whole = new double[k * k];
        ConvPatches.Accumulate(x, n, c, size, size, g, whole, new double[k]);
        var perImage = new double[k * k];
        var sum = new double[k];
        int plane = c * size * size;
        for (int image = 0; image < n; image++) ConvPatches.Accumulate(x.AsSpan(image * plane, plane), 1, c, size, size, g, perImage, sum);
        // Blocks of 64 float products fall differently at chunk edges: equal to float rounding.
        for (int i = 0; i < whole.Length; i++) Assert.AreEqual(perImage[i], whole[i], 1e-6 * Math.Abs(whole[i]) + 1e-6, $"H entry {i}");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    public void WhenPatchesAreAccumulatedInFloat_EachGroupAgreesWithTheDoublePath(int groups)
    {
        // 2 × 8 × 9 × 9, 3 × 3 padded: 162 patches per group (three blocks), K = 36 or 72; the untouched triangle poisoned.
        var g = new ConvGeometry(3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Group: groups);
        const int n = 2, c = 8, size = 9;
        var random = new Random(groups);
        var x = new float[n * c * size * size];
        for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle() * 2 - 1;
        int k = g.Features(c);
        var h = new double[groups * k * k];
        var sum = new double[groups * k];
        long patches = ConvPatches.Accumulate(x, n, c, size, size, g, h, sum);
        var matrices = new SymmetricMatrix[groups];
        for (int group = 0; group < groups; group++) matrices[group] = SecondMomentTests.Poisoned(k);
        try
        {
            var floatSum = new double[groups * k];
            Assert.AreEqual(patches, ConvPatches.Accumulate(x, n, c, size, size, g, matrices, floatSum));
            int blocks = (int)((patches + SecondMoment.BlockRows - 1) / SecondMoment.BlockRows);
            for (int group = 0; group < groups; group++)
                SecondMomentTests.AssertAgrees(h.AsSpan(group * k * k, k * k), matrices[group], blocks);
            // The same chunks summed in the same order: the sums are the double path's to the bit.
            CollectionAssert.AreEqual(sum, floatSum);
        }
        finally
        {
            foreach (var m in matrices) m.Dispose();
        }
    }

    private static (double[] H, double[] Sum, long Count) Naive(float[] x, int n, int c, int height, int width, ConvGeometry g)
    {
        int k = g.Features(c), cg = c / g.Group;
        var (top, left, outH, outW) = g.Resolve(height, width);
        var h = new double[g.Group * k * k];
        var sum = new double[g.Group * k];
        var p = new double[k];
        for (int image = 0; image < n; image++)
            for (int group = 0; group < g.Group; group++)
                for (int oh = 0; oh < outH; oh++)
                    for (int ow = 0; ow < outW; ow++)
                    {
                        for (int ci = 0; ci < cg; ci++)
                            for (int i = 0; i < g.KernelH; i++)
                                for (int j = 0; j < g.KernelW; j++)
                                {
                                    int ih = oh * g.StrideH - top + i * g.DilationH, iw = ow * g.StrideW - left + j * g.DilationW;
                                    bool inside = ih >= 0 && ih < height && iw >= 0 && iw < width;
                                    p[(ci * g.KernelH + i) * g.KernelW + j] = inside ? x[((image * c + group * cg + ci) * height + ih) * width + iw] : 0;
                                }
                        for (int a = 0; a < k; a++)
                        {
                            sum[group * k + a] += p[a];
                            for (int b = 0; b < k; b++) h[group * k * k + a * k + b] += p[a] * p[b];
                        }
                    }
        return (h, sum, (long)n * outH * outW);
    }
}
