using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using System.Text;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;

namespace CompressTasks.Passes.Tests;

/// <summary>
/// What the teacher-guided pass tests share: calibration data with correlated features, output comparisons in ONNX
/// Runtime, held-out top-1 on mnist-mlp, and onnx.checker.
/// </summary>
internal static class TeacherHarness
{
    /// <summary>mnist-mlp from ../shared/models with its calibration images and its labelled held-out set.</summary>
    public sealed record Mnist(string Path, PassContext Context, string Images, long[] Labels)
    {
        public static Mnist Load()
        {
            var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
            var data = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(path)!, "data");
            return new Mnist(path, new PassContext(path, System.IO.Path.Combine(data, "calib_images.npy")),
                System.IO.Path.Combine(data, "test_images.npy"), FeedLoader.LoadLabels(System.IO.Path.Combine(data, "test_labels.npy")));
        }

        public double Top1(byte[] model) => TeacherHarness.Top1(model, Images, Labels);
    }

    /// <summary>Rows of correlated features with a non-zero mean: x = A z + 0.5 + 0.05 ε, z of dimension 16.</summary>
    public static float[] CorrelatedRows(int rows, int features, int seed)
    {
        var random = new Random(seed);
        var mix = new float[features * 16];
        for (int i = 0; i < mix.Length; i++) mix[i] = random.NextSingle() * 2 - 1;
        var x = new float[rows * features];
        var z = new float[16];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < 16; j++) z[j] = random.NextSingle() * 2 - 1;
            for (int i = 0; i < features; i++)
            {
                float v = 0.5f + 0.05f * (random.NextSingle() * 2 - 1);
                for (int j = 0; j < 16; j++) v += mix[i * 16 + j] * z[j];
                x[r * features + i] = v;
            }
        }
        return x;
    }

    /// <summary>Images per batch, calibration images and [C, H, W] of <see cref="ConvLayers"/>.</summary>
    public const int ConvBatch = 8, ConvImages = 64, ConvChannels = 8, ConvSize = 10;

    /// <summary>
    /// Two Conv layers, the second grouped, strided, asymmetrically padded and without a bias:
    /// x [8, 8, 10, 10] ─Conv(W1 [16, 8, 3, 3], b1, pads 1)─▶ h ─Conv(W2 [8, 8, 3, 3], group 2, stride 2, pads [1, 1, 0, 0])─▶ y [8, 8, 5, 5].
    /// Calibration data: <see cref="CorrelatedRows"/> as images.
    /// </summary>
    public static OnnxModel ConvLayers(long opset = 13)
    {
        var m = new TestModels(opset, irVersion: opset >= 21 ? 10 : 8).Input("x", ConvBatch, ConvChannels, ConvSize, ConvSize).Output("y", ConvBatch, 8, 5, 5)
            .Weight("W1", [16, ConvChannels, 3, 3], 11, -0.3f, 0.3f).Weight("b1", [16], 12).Weight("W2", [8, 8, 3, 3], 13, -0.3f, 0.3f);
        m.Node("Conv", ["x", "W1", "b1"], ["h"], TestModels.Ints("pads", 1, 1, 1, 1))
            .Node("Conv", ["h", "W2"], ["y"], TestModels.Int("group", 2), TestModels.Ints("strides", 2, 2), TestModels.Ints("pads", 1, 1, 0, 0));
        return m.Build();
    }

    /// <summary>
    /// Over every row of <paramref name="data"/>: relative MSE Σ(ŷ − y)²/Σy² of the first output, cosine, and the
    /// largest |mean(ŷ − y)| of one output feature (an index of the last axis, or of <paramref name="channelAxis"/>);
    /// of output <paramref name="output"/> instead of the first when asked.
    /// </summary>
    public static (double Mse, double Cosine, double MeanShift) Compare(byte[] teacher, byte[] student, string data, OptimizationLevel level, int channelAxis = -1, int output = 0)
    {
        var options = new RuntimeOptions { Optimization = level, IntraOpThreads = 1 };
        using var t = ModelSession.Open(teacher, "teacher", options);
        using var s = ModelSession.Open(student, "student", options);
        double error = 0, reference = 0, dot = 0, norm = 0;
        double[]? shift = null;
        int rows = 0;
        foreach (var feed in FeedLoader.Load(data, t.Inputs, maxRows: 100_000))
        {
            var expected = t.Run(feed)[output];
            var y = expected.ToFloats();
            var yHat = s.Run(feed)[output].ToFloats();
            int axis = channelAxis < 0 ? expected.Shape.Length - 1 : channelAxis;
            int width = (int)expected.Shape[axis];
            long stride = 1;
            for (int d = axis + 1; d < expected.Shape.Length; d++) stride *= expected.Shape[d];
            shift ??= new double[width];
            for (int i = 0; i < y.Length; i++)
            {
                double d = yHat[i] - y[i];
                error += d * d;
                reference += (double)y[i] * y[i];
                dot += (double)y[i] * yHat[i];
                norm += (double)yHat[i] * yHat[i];
                shift[i / stride % width] += d;
            }
            rows += y.Length / width;
        }
        return (error / reference, dot / Math.Sqrt(reference * norm), shift!.Max(v => Math.Abs(v / rows)));
    }

    /// <summary>Top-1 accuracy of a classifier on labelled images (every label scored), at ONNX Runtime optimization All by default.</summary>
    public static double Top1(byte[] model, string images, long[] labels, OptimizationLevel level = OptimizationLevel.All)
    {
        using var session = ModelSession.Open(model, "classifier", new RuntimeOptions { Optimization = level, IntraOpThreads = 1 });
        int correct = 0, row = 0;
        foreach (var feed in FeedLoader.Load(images, session.Inputs, maxRows: labels.Length, batchSize: 100))
        {
            var logits = session.Run(feed)[0];
            int classes = (int)logits.Shape[^1];
            var values = logits.ToFloats();
            for (int r = 0; r < values.Length / classes; r++, row++)
                if (TensorPrimitives.IndexOfMax(values.AsSpan(r * classes, classes)) == labels[row]) correct++;
        }
        Assert.AreEqual(labels.Length, row);
        return (double)correct / row;
    }

    /// <summary>Fails unless onnx.checker (full check) accepts the model.</summary>
    public static void CheckedByOnnx(byte[] model, string what)
    {
        var (exit, text) = PythonOnnx.CheckModel(model);
        Assert.AreEqual(0, exit, $"onnx.checker rejected the {what} model: {text}");
    }

    /// <summary>A model file and a calibration .npy [rows, ..rowShape] in a temporary folder, deleted afterwards.</summary>
    public sealed class TempFiles : IDisposable
    {
        private readonly string _dir = Directory.CreateTempSubdirectory("ct-recon-").FullName;

        public (string Model, string Calibration) Write(OnnxModel model, float[] rows, params int[] rowShape)
        {
            int features = rowShape.Aggregate(1, (a, d) => a * d);
            var modelPath = System.IO.Path.Combine(_dir, "model.onnx");
            using (model) File.WriteAllBytes(modelPath, PassHarness.Bytes(model));
            var npy = System.IO.Path.Combine(_dir, "calibration.npy");
            var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows.Length / features}, {string.Join(", ", rowShape)}), }}";
            header = header.PadRight(128 - 10 - 1) + "\n";
            using var stream = File.Create(npy);
            stream.Write([0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0]);
            stream.Write(Encoding.ASCII.GetBytes(header));
            stream.Write(MemoryMarshal.AsBytes(rows.AsSpan()));
            return (modelPath, npy);
        }

        public void Dispose() => Directory.Delete(_dir, recursive: true);
    }
}
