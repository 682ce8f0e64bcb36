namespace CompressTasks.Kernels.Tests;

[TestClass]
public sealed class BatchNormFoldingTests
{
    [TestMethod]
    public void WhenFoldingOneChannel_ScaleAndBiasMatchHandComputedValues()
    {
        // γ=2, β=1, μ=3, σ²=3, ε=1 → s = 2/√4 = 1; b' = 1·(5 − 3) + 1 = 3.
        var bias = new float[] { 5 };
        var scale = BatchNormFolding.ComputeScale([2f], [1f], [3f], [3f], 1.0, bias);
        Assert.AreEqual(1f, scale[0]);
        Assert.AreEqual(3f, bias[0]);
    }

    [TestMethod]
    [DataRow(1, 3, 4)]
    [DataRow(2, 3, 1)]
    [DataRow(3, 5, 7)]
    [DataRow(1, 1, 1)]
    public void WhenScalingChannels_EachChannelIsMultipliedByItsScale(int outer, int channels, int inner)
    {
        var weights = Enumerable.Range(0, outer * channels * inner).Select(i => (float)(i + 1)).ToArray();
        var original = (float[])weights.Clone();
        var scale = Enumerable.Range(0, channels).Select(c => 0.5f + c).ToArray();
        BatchNormFolding.ScaleChannels(weights, scale, outer, inner);
        for (int o = 0; o < outer; o++)
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < inner; i++)
                {
                    int k = (o * channels + c) * inner + i;
                    Assert.AreEqual(original[k] * scale[c], weights[k], 1e-6f * Math.Abs(original[k] * scale[c]));
                }
    }

    [TestMethod]
    public void WhenShapesDisagree_ItThrows()
    {
        Assert.ThrowsExactly<ArgumentException>(() => BatchNormFolding.ScaleChannels(new float[5], new float[2], 1, 2));
        Assert.ThrowsExactly<ArgumentException>(() => BatchNormFolding.ComputeScale([1f], [1f, 2f], [1f], [1f], 1e-5, new float[1]));
    }
}
