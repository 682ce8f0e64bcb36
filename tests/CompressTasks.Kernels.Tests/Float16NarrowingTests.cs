namespace CompressTasks.Kernels.Tests;

[TestClass]
public sealed class Float16NarrowingTests
{
    [TestMethod]
    public void WhenValuesAreInRange_TheyRoundToNearestEvenAndNothingIsCounted()
    {
        // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa, 1.
        float[] source = [0f, 1f, 1f + 1f / 2048, 1f + 3f / 2048, -65504f, 6e-8f];
        var half = new Half[source.Length];
        Assert.AreEqual(0, Float16Narrowing.ToHalfSaturating(source, half));
        Assert.AreEqual(0, Float16Narrowing.CountOutOfRange(source));
        CollectionAssert.AreEqual(new[] { (Half)0f, (Half)1f, (Half)1f, (Half)(1f + 4f / 2048), Half.MinValue, (Half)6e-8f }, half);
    }

    [TestMethod]
    public void WhenFiniteValuesExceed65504_TheySaturateWhileInfinityAndNaNStay()
    {
        float[] source = [1e9f, -1e9f, 65520f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 3f];
        var half = new Half[source.Length];
        Assert.AreEqual(3, Float16Narrowing.CountOutOfRange(source));
        Assert.AreEqual(3, Float16Narrowing.ToHalfSaturating(source, half));
        Assert.AreEqual(Half.MaxValue, half[0]);
        Assert.AreEqual(Half.MinValue, half[1]);
        Assert.AreEqual(Half.MaxValue, half[2]);
        Assert.AreEqual(Half.PositiveInfinity, half[3]);
        Assert.AreEqual(Half.NegativeInfinity, half[4]);
        Assert.IsTrue(Half.IsNaN(half[5]));
        Assert.AreEqual((Half)3f, half[6]);
    }

    [TestMethod]
    public void WhenEveryLengthFrom0To256IsNarrowed_ItMatchesTheScalarConversion()
    {
        var random = new Random(5);
        for (int length = 0; length <= 256; length++)
        {
            var source = new float[length];
            for (int i = 0; i < length; i++) source[i] = (random.NextSingle() - 0.5f) * (i % 17 == 3 ? 4e5f : 100f);
            var half = new Half[length];
            int saturated = Float16Narrowing.ToHalfSaturating(source, half);
            int expectedSaturated = 0;
            for (int i = 0; i < length; i++)
            {
                bool wide = Math.Abs(source[i]) > 65504f;
                if (wide) expectedSaturated++;
                Assert.AreEqual(wide ? (source[i] > 0 ? Half.MaxValue : Half.MinValue) : (Half)source[i], half[i], $"length {length}, index {i}");
            }
            Assert.AreEqual(expectedSaturated, saturated);
        }
    }
}
