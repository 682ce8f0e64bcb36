using System.Runtime.InteropServices;
using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

[TestClass]
public sealed class GptqTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [DataRow(8, 0, false, false)]
    [DataRow(8, 0, false, true)]
    [DataRow(8, 0, true, false)]
    [DataRow(4, 32, false, false)]
    [DataRow(4, 32, false, true)]
    [DataRow(4, 32, true, true)]
    [DataRow(4, 0, true, false)]
    public void WhenInputsAreCorrelated_GptqOutputErrorIsBelowRoundToNearest(int bits, int group, bool symmetric, bool actOrder)
    {
        var layer = new CorrelatedLayer(128, 48, 512, seed: bits * 7 + group);
        var rtn = new float[layer.W.Length];
        new LinearWeightQuantizer(layer.K, layer.N, bits, symmetric, group).QuantizeNearest(layer.W, rtn);

        var gptq = (float[])layer.W.Clone();
        var quantizer = new LinearWeightQuantizer(layer.K, layer.N, bits, symmetric, group);
        using var h = layer.Symmetric();
        var info = Gptq.Quantize(layer.W, gptq, h, quantizer, new GptqOptions(BlockSize: 32, Damp: 0.01, ActOrder: actOrder));

        // The weights handed back are exactly what the stored codes, scales and zero points dequantize to.
        var check = new float[layer.W.Length];
        Dequantize(quantizer, check);
        CollectionAssert.AreEqual(check, gptq, "codes and dequantized weights agree");

        double rtnError = layer.OutputError(rtn), gptqError = layer.OutputError(gptq);
        double predicted = LayerError.Relative(layer.H, layer.W, gptq, layer.K, layer.N);
        TestContext.WriteLine($"int{bits} group {group} symmetric {symmetric} act-order {actOrder}: relative output error RTN {rtnError:E3}, GPTQ {gptqError:E3} ({rtnError / gptqError:F2}× lower; from H: {predicted:E3}); damp {info.DampUsed}");
        Assert.IsTrue(gptqError < rtnError, $"GPTQ {gptqError} vs RTN {rtnError}");
        Assert.AreEqual(gptqError, predicted, gptqError * 1e-3, "tr(ΔᵀHΔ)/tr(WᵀHW) is the measured error");
    }

    [TestMethod]
    [DataRow(1)]
    [DataRow(7)]
    [DataRow(64)]
    [DataRow(128)]
    public void WhenTheLazyBlockSizeChanges_TheResultIsTheColumnByColumnOneUpToRounding(int block)
    {
        // Block 1 applies every update at once, row by row (the textbook loop); larger blocks defer the updates past the
        // block into one product. Same algebra, different float summation order: a code may flip where a weight sits
        // on a rounding boundary, by one step, and the output error stays the same.
        var layer = new CorrelatedLayer(150, 24, 400, seed: 5);
        var reference = (float[])layer.W.Clone();
        using var h = layer.Symmetric();
        Gptq.Quantize(layer.W, reference, h, new LinearWeightQuantizer(layer.K, layer.N, 4, false, 0), new GptqOptions(BlockSize: 1));
        var blocked = (float[])layer.W.Clone();
        var quantizer = new LinearWeightQuantizer(layer.K, layer.N, 4, false, 0);
        Gptq.Quantize(layer.W, blocked, h, quantizer, new GptqOptions(BlockSize: block));
        int differing = 0;
        for (int i = 0; i < blocked.Length; i++)
            if (blocked[i] != reference[i])
            {
                differing++;
                Assert.IsTrue(Math.Abs(blocked[i] - reference[i]) <= 1.001f * quantizer.Scales[i % layer.N], $"entry {i} differs by more than one step");
            }
        double referenceError = layer.OutputError(reference), blockedError = layer.OutputError(blocked);
        TestContext.WriteLine($"block {block}: {differing} of {blocked.Length} entries differ; error {blockedError:E4} vs {referenceError:E4}");
        Assert.IsTrue(differing <= blocked.Length / 100, $"{differing} entries differ");
        Assert.AreEqual(referenceError, blockedError, 0.02 * referenceError);
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenEightBitsPerChannel_RoundToNearestIsInt8QuantizationExactly(bool symmetric)
    {
        var layer = new CorrelatedLayer(40, 24, 8, seed: 3);
        var quantizer = new LinearWeightQuantizer(layer.K, layer.N, 8, symmetric);
        quantizer.QuantizeNearest(layer.W, []);
        var scales = new float[layer.N];
        var zero = new byte[layer.N];
        var codes = new byte[layer.W.Length];
        if (symmetric)
        {
            Int8Quantization.ComputeSymmetricScales(layer.W, layer.K, 1, scales);
            Int8Quantization.QuantizeSymmetric(layer.W, scales, layer.K, 1, MemoryMarshal.Cast<byte, sbyte>(codes.AsSpan()));
        }
        else
        {
            Int8Quantization.ComputeAsymmetricParameters(layer.W, layer.K, 1, scales, zero);
            Int8Quantization.QuantizeAsymmetric(layer.W, scales, zero, layer.K, 1, codes);
        }
        CollectionAssert.AreEqual(scales, quantizer.Scales);
        CollectionAssert.AreEqual(zero, quantizer.ZeroPoints);
        CollectionAssert.AreEqual(codes, quantizer.Codes);
    }

    [TestMethod]
    public void WhenAnInputIsAlwaysZero_ItsRowIsRoundedToNearestAndTheRestStillImproves()
    {
        var layer = new CorrelatedLayer(64, 16, 256, seed: 11);
        // Input 5 never fires: zero its samples and rebuild H.
        for (int s = 0; s < layer.Samples; s++) layer.X[s * layer.K + 5] = 0;
        Array.Clear(layer.H);
        Array.Clear(layer.Sum);
        SecondMoment.Accumulate(layer.X, layer.K, layer.H, layer.Sum);
        var gptq = (float[])layer.W.Clone();
        using var h = layer.Symmetric();
        var info = Gptq.Quantize(layer.W, gptq, h, new LinearWeightQuantizer(layer.K, layer.N, 4, true, 16), new GptqOptions(16));
        var rtn = new float[layer.W.Length];
        new LinearWeightQuantizer(layer.K, layer.N, 4, true, 16).QuantizeNearest(layer.W, rtn);
        TestContext.WriteLine($"dead inputs {info.DeadInputs}; error RTN {layer.OutputError(rtn):E3}, GPTQ {layer.OutputError(gptq):E3}");
        Assert.AreEqual(1, info.DeadInputs);
        // The dead row is rounded to nearest on its own, so it still serves data where the input fires.
        for (int c = 0; c < layer.N; c++) Assert.AreEqual(rtn[5 * layer.N + c], gptq[5 * layer.N + c]);
        Assert.IsTrue(layer.OutputError(gptq) < layer.OutputError(rtn));
    }

    [TestMethod]
    [DataRow(false, false)]
    [DataRow(true, false)]
    [DataRow(false, true)]
    [DataRow(true, true)]
    public void WhenHIsConsumed_TheResultIsTheSameBitsAndItsErrorIsTrΔᵀHΔ(bool actOrder, bool deadInput)
    {
        var layer = new CorrelatedLayer(200, 20, 600, seed: 3);
        if (deadInput)
        {
            for (int s = 0; s < layer.Samples; s++) layer.X[s * layer.K + 7] = 0;
            Array.Clear(layer.H);
            Array.Clear(layer.Sum);
            SecondMoment.Accumulate(layer.X, layer.K, layer.H, layer.Sum);
        }
        var options = new GptqOptions(BlockSize: 32, ActOrder: actOrder);
        var copied = (float[])layer.W.Clone();
        var copiedQuantizer = new LinearWeightQuantizer(layer.K, layer.N, 4, false, 32);
        using var kept = layer.Symmetric();
        var copiedInfo = Gptq.Quantize(layer.W, copied, kept, copiedQuantizer, options);
        var consumed = (float[])layer.W.Clone();
        var quantizer = new LinearWeightQuantizer(layer.K, layer.N, 4, false, 32);
        var h = layer.Symmetric();
        var info = Gptq.QuantizeInPlace(layer.W, consumed, h, quantizer, options);

        CollectionAssert.AreEqual(copied, consumed, "same weights");
        CollectionAssert.AreEqual(copiedQuantizer.Codes, quantizer.Codes, "same codes");
        Assert.AreEqual(copiedInfo, info);
        Assert.AreEqual(deadInput ? 1 : 0, info.DeadInputs);
        Assert.ThrowsExactly<ObjectDisposedException>(() => h[0, 0], "a consumed H is freed");
        // The error GPTQ reports (from its scaled errors, without H) is the one the full double H gives; float
        // storage and factor leave it within 1e-5 (measured: 1e-6).
        double direct = LayerError.Error(layer.H, layer.W, consumed, layer.K, layer.N);
        TestContext.WriteLine($"act-order {actOrder}, dead input {deadInput}: tr(ΔᵀHΔ) reported {info.Error:E6}, from H {direct:E6}");
        Assert.AreEqual(direct, info.Error, direct * 1e-5);
    }

    [TestMethod]
    public void WhenTheResultOverlapsTheWeights_ItIsRefusedAndAConsumedHIsFreed()
    {
        var layer = new CorrelatedLayer(16, 4, 64, seed: 2);
        var h = layer.Symmetric();
        var quantizer = new LinearWeightQuantizer(layer.K, layer.N, 4, false, 0);
        Assert.ThrowsExactly<ArgumentException>(() => Gptq.QuantizeInPlace(layer.W, layer.W, h, quantizer, new GptqOptions()));
        Assert.ThrowsExactly<ObjectDisposedException>(() => h[0, 0]);
    }

    internal static void Dequantize(LinearWeightQuantizer q, float[] result)
    {
        for (int k = 0; k < q.Rows; k++)
            for (int c = 0; c < q.Columns; c++)
            {
                int p = q.GroupOf(k) * q.Columns + c;
                int code = q.Symmetric ? (sbyte)q.Codes[k * q.Columns + c] : q.Codes[k * q.Columns + c];
                result[k * q.Columns + c] = (code - (q.Symmetric ? 0 : q.ZeroPoints[p])) * q.Scales[p];
            }
    }
}
