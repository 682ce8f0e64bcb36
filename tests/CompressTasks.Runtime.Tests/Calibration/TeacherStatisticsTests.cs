using CompressTasks.Model;
using CompressTasks.Runtime.Calibration;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;

namespace CompressTasks.Runtime.Tests.Calibration;

[TestClass]
public sealed class TeacherStatisticsTests
{
    public TestContext TestContext { get; set; } = null!;

    // Activations are kept while ONNX Runtime runs and folded afterwards, up to a budget, past which the rest is folded
    // as it comes, as is a value larger than its statistics (logits: 2 KB a batch for a 220-byte H): every budget
    // gives the same bits (each request's batches go in in the same order).
    [TestMethod]
    public void WhenTheActivationBudgetIsExceeded_TheStatisticsAreTheSameBits()
    {
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var calibration = Path.Combine(Path.GetDirectoryName(model)!, "data", "calib_images.npy");
        StatisticsRequest[] requests = [new("input"), new("relu1"), new("logits")];
        // 200 rows in batches of 50: 157 KB of input and 102 KB of relu1 each; 300 KB overflows in the second batch.
        var results = new[] { 0L, 300_000, 32L << 20 }.Select(budget =>
        {
            var teacher = new TeacherStatistics(model, calibration) { PendingBytes = budget };
            var stats = teacher.Collect(requests);
            Assert.AreEqual(4, teacher.Batches);
            return requests.Select(r => (stats[r].Samples, stats[r].Sum, stats[r].SecondMoment().ToDouble())).ToArray();
        }).ToArray();
        foreach (var other in results.Skip(1))
            for (int r = 0; r < requests.Length; r++)
            {
                Assert.AreEqual(results[0][r].Samples, other[r].Samples);
                CollectionAssert.AreEqual(results[0][r].Sum, other[r].Sum, $"{requests[r].Value}: Σx");
                CollectionAssert.AreEqual(results[0][r].Item3, other[r].Item3, $"{requests[r].Value}: H");
            }
        Assert.AreEqual(200L, results[0][1].Samples);
    }

    [TestMethod]
    public void WhenMnistMlpRunsOnCalibrationData_TheStatisticsAreThoseOfTheActivations()
    {
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var calibration = Path.Combine(Path.GetDirectoryName(model)!, "data", "calib_images.npy");
        var teacher = new TeacherStatistics(model, calibration);
        var input = new StatisticsRequest("input");
        var hidden = new StatisticsRequest("relu1");
        var absent = new StatisticsRequest("no-such-value");
        var stats = teacher.Collect([input, hidden, absent]);
        TestContext.WriteLine($"{teacher.Batches} batches in {teacher.Elapsed.TotalMilliseconds:F0} ms; {teacher.Bytes:N0} bytes of statistics; problems: {string.Join("; ", teacher.Problems.Values)}");

        // Reference: the activations recomputed here in double from the calibration rows and fc1's weights.
        var x = NpyReader.Read(calibration).As<float>();
        int rows = x.Length / 784;
        using var onnx = OnnxModel.Load(model);
        var w1 = Floats(onnx, "fc1.weight");
        var b1 = Floats(onnx, "fc1.bias");
        var relu = new double[rows * 512];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < 512; c++)
            {
                double v = b1[c];
                for (int i = 0; i < 784; i++) v += (double)x[r * 784 + i] * w1[i * 512 + c];
                relu[r * 512 + c] = Math.Max(0, v);
            }

        Assert.AreEqual(2, stats.Count);
        Assert.IsTrue(teacher.Problems.ContainsKey(absent), "an unknown value is a problem with a reason, not an exception");
        Assert.AreEqual((784, rows), (stats[input].Features, (int)stats[input].Samples));
        Assert.AreEqual((512, rows), (stats[hidden].Features, (int)stats[hidden].Samples));
        double worst = 0;
        var h = stats[hidden].SecondMoment().ToDouble();
        for (int i = 0; i < 512; i += 7)
            for (int j = 0; j < 512; j += 5)
            {
                double expected = 0;
                for (int r = 0; r < rows; r++) expected += relu[r * 512 + i] * relu[r * 512 + j];
                worst = Math.Max(worst, Math.Abs(h[i * 512 + j] - expected) / (1 + Math.Abs(expected)));
            }
        for (int i = 0; i < 784; i += 13)
        {
            double expected = 0;
            for (int r = 0; r < rows; r++) expected += (double)x[r * 784 + i] * x[r * 784 + i];
            Assert.AreEqual(expected, stats[input].SecondMoment()[i, i], 1e-4 * (1 + expected));
        }
        TestContext.WriteLine($"relu1: worst relative difference of H against the recomputed activations {worst:E2}");
        Assert.IsTrue(worst < 1e-4, $"{worst}");

        // A second request for the same values does not run the model again.
        int batches = teacher.Batches;
        Assert.AreSame(stats[hidden], teacher.Collect([hidden])[hidden]);
        Assert.AreEqual(batches, teacher.Batches);
    }

    [TestMethod]
    public void WhenTheWeightsAreExternalData_TheStatisticsAreThoseOfTheInlineModel()
    {
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var calibration = Path.Combine(Path.GetDirectoryName(model)!, "data", "calib_images.npy");
        var directory = Directory.CreateTempSubdirectory("ct-teacher-");
        try
        {
            var external = Path.Combine(directory.FullName, "external.onnx");
            using (var m = OnnxModel.Load(model)) m.Save(external, new SaveOptions { ExternalData = ExternalDataPolicy.All });
            var hidden = new StatisticsRequest("relu2");
            var inline = new TeacherStatistics(model, calibration).Collect([hidden])[hidden];
            var teacher = new TeacherStatistics(external, calibration);
            var stats = teacher.Collect([hidden]);
            Assert.AreEqual(0, teacher.Problems.Count, string.Join("; ", teacher.Problems.Values));
            var fromExternal = stats[hidden];
            Assert.AreEqual(inline.Samples, fromExternal.Samples);
            var (a, b) = (inline.SecondMoment().ToDouble(), fromExternal.SecondMoment().ToDouble());
            double worst = 0, scale = a.Max(Math.Abs);
            for (int i = 0; i < a.Length; i++) worst = Math.Max(worst, Math.Abs(a[i] - b[i]));
            TestContext.WriteLine($"H of relu2 over {inline.Samples} rows: worst difference {worst:E2} of max |H| {scale:E2}");
            Assert.IsTrue(worst <= 1e-6 * scale, $"{worst} vs {scale}");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    [TestMethod]
    public void WhenOnlyTheGraphInputIsAskedFor_TheFeedsAreTheSamples()
    {
        var model = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var calibration = Path.Combine(Path.GetDirectoryName(model)!, "data", "calib_images.npy");
        var stats = new TeacherStatistics(model, calibration).Collect([new StatisticsRequest("input")]);
        var x = NpyReader.Read(calibration).As<float>();
        double expected = 0;
        foreach (var v in x) expected += v;
        double sum = stats.Single().Value.Sum.Sum();
        TestContext.WriteLine($"Σ x over {stats.Single().Value.Samples} rows: {sum} (direct {expected})");
        Assert.AreEqual(expected, sum, 1e-6 * Math.Abs(expected));
    }

    [TestMethod]
    public void WhenAConvInputIsAskedFor_TheStatisticsAreItsIm2colPatchesPerGroup()
    {
        // ResNet-18's input (batch 1) as a Conv input with its first layer's geometry (7 × 7, stride 2, pads 3), and
        // the same in two groups: the teacher's statistics must be ConvPatches over the images, one H per group.
        var dir = Directory.CreateTempSubdirectory("ct-conv-stats-").FullName;
        try
        {
            const int images = 2, plane = 3 * 224 * 224;
            var random = new Random(4);
            var x = new float[images * plane];
            for (int i = 0; i < x.Length; i++) x[i] = random.NextSingle() * 2 - 1;
            var npy = Path.Combine(dir, "images.npy");
            var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 224, 224), }".PadRight(117) + "\n";
            using (var stream = File.Create(npy))
            {
                stream.Write([0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0]);
                stream.Write(System.Text.Encoding.ASCII.GetBytes(header));
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(x.AsSpan()));
            }
            var geometry = new Kernels.Reconstruction.ConvGeometry(7, 7, 2, 2, PadTop: 3, PadLeft: 3, PadBottom: 3, PadRight: 3);
            var whole = new StatisticsRequest("Input247", Conv: geometry);
            var grouped = new StatisticsRequest("Input247", Conv: geometry with { Group = 3 });
            var teacher = new TeacherStatistics(TestPaths.ResNet18, npy);
            var stats = teacher.Collect([whole, grouped]);
            Assert.AreEqual((147, 1, 2L * 112 * 112), (stats[whole].Features, stats[whole].Groups, stats[whole].Samples));
            Assert.AreEqual((49, 3), (stats[grouped].Features, stats[grouped].Groups));
            Assert.AreEqual(3L * (49 * 50 / 2 * sizeof(float) + 49 * sizeof(double)), stats[grouped].Bytes, "memory is the H triangles, not the samples");
            foreach (var (request, groups, k) in new[] { (whole, 1, 147), (grouped, 3, 49) })
            {
                var h = Enumerable.Range(0, groups).Select(_ => new Kernels.Reconstruction.SymmetricMatrix(k)).ToArray();
                var sum = new double[groups * k];
                for (int image = 0; image < images; image++)
                    Kernels.Reconstruction.ConvPatches.Accumulate(x.AsSpan(image * plane, plane), 1, 3, 224, 224, request.Conv!, h, sum);
                // The same accumulation, image by image in both: the same bits.
                for (int g = 0; g < groups; g++)
                    for (int i = 0; i < k; i++)
                        for (int j = i; j < k; j++) Assert.AreEqual(h[g][i, j], stats[request].SecondMoment(g)[i, j], $"groups {groups}: H[{g}][{i}, {j}]");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static float[] Floats(OnnxModel model, string name) =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(
            model.GetTensorBytes(model.Proto.Graph.Initializer.Single(t => t.Name == name)).Span).ToArray();
}
