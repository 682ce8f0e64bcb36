using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Runtime.Calibration;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;

namespace CompressTasks.Runtime.Tests.Calibration;

[TestClass]
public sealed class ChannelRangesTests
{
    [TestMethod]
    public void WhenMnistMlpRunsOnCalibrationData_TheMaximaAreThoseOfTheActivations()
    {
        var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var calibration = Path.Combine(Path.GetDirectoryName(path)!, "data", "calib_images.npy");
        using var model = OnnxModel.Load(path);

        var ranges = ChannelRanges.Collect(model, DataSource.FromPath(calibration), ["input", "relu1", "no-such-value"]);

        // Reference: max |x| per input pixel and max relu1 per unit, recomputed here in double.
        var x = NpyReader.Read(calibration).As<float>();
        int rows = x.Length / 784;
        var w1 = Floats(model, "fc1.weight");
        var b1 = Floats(model, "fc1.bias");
        var input = new double[784];
        var relu = new double[512];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < 784; i++) input[i] = Math.Max(input[i], Math.Abs(x[r * 784 + i]));
            for (int c = 0; c < 512; c++)
            {
                double v = b1[c];
                for (int i = 0; i < 784; i++) v += (double)x[r * 784 + i] * w1[i * 512 + c];
                relu[c] = Math.Max(relu[c], v);
            }
        }

        Assert.IsTrue(ranges.Problems.ContainsKey("no-such-value"), "an unknown value is a problem with a reason, not an exception");
        Assert.HasCount(2, ranges.Maxima);
        Assert.IsTrue(ranges.Batches > 0);
        CollectionAssert.AreEqual(Array.ConvertAll(input, v => (float)v), ranges.Maxima["input"], "a graph input: the data's own maxima");
        var measured = ranges.Maxima["relu1"];
        Assert.HasCount(512, measured);
        for (int c = 0; c < 512; c++) Assert.AreEqual(relu[c], measured[c], 1e-4 * (1 + relu[c]), $"relu1[{c}]");
    }

    private static float[] Floats(OnnxModel model, string name) =>
        MemoryMarshal.Cast<byte, float>(model.GetTensorBytes(model.Proto.Graph.Initializer.Single(t => t.Name == name)).Span).ToArray();
}
