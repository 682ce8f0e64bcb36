using CompressTasks.Diagnostics;

namespace CompressTasks.Runtime.Tests.Data;

[TestClass]
public sealed class InputGeneratorTests
{
    private static readonly TensorInfo Audio = new("input", 1, [-1, 8], ["batch", ""]);
    private static readonly TensorInfo Rate = new("sr", 7, [], []);
    private static readonly TensorInfo Mask = new("mask", 9, [1, 3], ["", ""]);

    private static Dictionary<string, IReadOnlyList<IReadOnlyList<double>>> Pins(params (string Name, double[][] Values)[] pins) =>
        pins.ToDictionary(p => p.Name, p => (IReadOnlyList<IReadOnlyList<double>>)[.. p.Values]);

    [TestMethod]
    public void WhenValuesArePinned_SampleICyclesThroughThem_AndTheOtherInputsKeepTheirRandomValues()
    {
        var pins = Pins(("sr", [[8000], [16000]]), ("mask", [[1, 0, 1]]));
        var unpinned = InputGenerator.Generate([Audio, Rate, Mask], null, seed: 5);
        var rates = new List<long>();
        for (int sample = 0; sample < 4; sample++)
        {
            var feed = InputGenerator.Generate([Audio, Rate, Mask], null, seed: 5, pins, sample);
            rates.Add(feed["sr"].As<long>()[0]);
            CollectionAssert.AreEqual(new long[0], feed["sr"].Shape, "a scalar input stays a scalar");
            CollectionAssert.AreEqual(new byte[] { 1, 0, 1 }, feed["mask"].Data, "one number per element");
            CollectionAssert.AreEqual(unpinned["input"].Data, feed["input"].Data, "pinning sr and mask leaves input's random values as they were");
        }
        CollectionAssert.AreEqual(new long[] { 8000, 16000, 8000, 16000 }, rates);
    }

    [TestMethod]
    public void WhenOneNumberIsPinned_EveryElementTakesIt()
    {
        var feed = InputGenerator.Generate([Audio], new Dictionary<string, long[]> { ["input"] = [2, 8] }, seed: 1, Pins(("input", [[0.25]])));

        Assert.AreEqual(16, feed["input"].As<float>().Length);
        Assert.IsTrue(feed["input"].As<float>().ToArray().All(v => v == 0.25f));
    }

    [TestMethod]
    [DataRow(7, new[] { 1.5 }, 1L, "not an integer")]
    [DataRow(6, new[] { 3e9 }, 1L, "outside")]
    [DataRow(9, new[] { 2.0 }, 1L, "outside")]
    [DataRow(10, new[] { 1e5 }, 1L, "outside")]
    [DataRow(1, new[] { 1.0, 2.0 }, 3L, "3 numbers, not 2")]
    [DataRow(8, new[] { 1.0 }, 1L, "cannot be pinned")]
    public void WhenAValueDoesNotFit_MisfitSaysWhy_AndGenerateRefusesIt(int elementType, double[] value, long count, string why)
    {
        var input = new TensorInfo("v", elementType, [count], [""]);

        StringAssert.Contains(InputGenerator.Misfit(input, value, count), why);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => InputGenerator.Generate([input], null, 1, Pins(("v", [value]))));
        Assert.AreEqual(DiagnosticCodes.VerificationInputs, e.Code);
    }

    [TestMethod]
    [DataRow(7, 16000.0)]
    [DataRow(6, -5.0)]
    [DataRow(9, 1.0)]
    [DataRow(2, 255.0)]
    [DataRow(11, 0.1)]
    public void WhenAValueFits_MisfitIsNull(int elementType, double value) =>
        Assert.IsNull(InputGenerator.Misfit(new TensorInfo("v", elementType, [], []), [value], 1));
}
