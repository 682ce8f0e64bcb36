using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class SymmetricPermutationTests
{
    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(37)]
    public void WhenAMatrixIsPermutedInPlace_ItIsTheReorderedCopy(int k)
    {
        var random = new Random(k);
        var matrix = new double[k * k];
        for (int i = 0; i < matrix.Length; i++) matrix[i] = random.NextDouble();
        // A random permutation with fixed points and cycles of several lengths.
        var order = Enumerable.Range(0, k).ToArray();
        random.Shuffle(order);
        var expected = new double[k * k];
        for (int p = 0; p < k; p++)
            for (int q = 0; q < k; q++) expected[p * k + q] = matrix[order[p] * k + order[q]];
        SymmetricPermutation.Apply(matrix, k, order);
        CollectionAssert.AreEqual(expected, matrix);
    }

    [TestMethod]
    public void WhenTheOrderRepeatsAnIndex_ItIsRefused()
    {
        var matrix = new double[9];
        Assert.ThrowsExactly<ArgumentException>(() => SymmetricPermutation.Apply(matrix, 3, [1, 1, 0]));
    }
}
