using System.Runtime.InteropServices;
using System.Text;
using CompressTasks.Graphs;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;

namespace CompressTasks.Passes.Tests.Infrastructure;

/// <summary>
/// The reconstruction kernels on mnist-mlp's real weights and calibration data, through <see cref="TeacherLayers"/>
/// as the int4 and pruning passes will call them: weights are replaced by their compressed float values
/// (dequantized or pruned), then the model is scored on the 1000 held-out images in ONNX Runtime.
/// </summary>
[TestClass]
public sealed class TeacherLayersMnistTests
{
    public TestContext TestContext { get; set; } = null!;

    private delegate void Compress(float[] w, int k, int n, SymmetricMatrix h, bool reconstruct);

    [TestMethod]
    public void WhenMnistMlpIsCompressed_TheReconstructedVariantIsNeverLessAccurateThanThePlainOne()
    {
        var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = Path.Combine(Path.GetDirectoryName(path)!, "data");
        var context = new PassContext(path, Path.Combine(data, "calib_images.npy"));
        var images = Path.Combine(data, "test_images.npy");
        var labels = FeedLoader.LoadLabels(Path.Combine(data, "test_labels.npy"));
        var variants = new (string Name, string Plain, string Reconstructed, Compress Run)[]
        {
            ("int4 block 32 (symmetric)", "rtn", "gptq", (w, k, n, h, r) =>
            {
                var q = new LinearWeightQuantizer(k, n, 4, symmetric: true, groupSize: 32);
                if (r) Gptq.Quantize(w.ToArray(), w, h, q, new GptqOptions());
                else q.QuantizeNearest(w.ToArray(), w);
            }),
            ("70% unstructured", "magnitude", "sparsegpt", (w, k, n, h, r) =>
            {
                if (r) SparseGpt.Prune(w.ToArray(), w, k, n, h, new SparseGptOptions(Sparsity: 0.7));
                else PruneMagnitude(w, k, n, 0.7);
            }),
            ("2:4", "magnitude", "sparsegpt", (w, k, n, h, r) =>
            {
                if (r) SparseGpt.Prune(w.ToArray(), w, k, n, h, new SparseGptOptions(PruneN: 2, GroupM: 4));
                else PruneMagnitude(w, k, n, 0.5, groupM: 4);
            }),
        };
        double original = Top1(File.ReadAllBytes(path), images, labels);
        var table = new StringBuilder($"mnist-mlp, {labels.Length} held-out images, fp32 top-1 {original:P1}; calibration: 200 images\n| compression | method | top-1 | + bias correction |\n|---|---|---|---|\n");
        foreach (var (name, plain, reconstructed, run) in variants)
        {
            var accuracy = new Dictionary<(bool, bool), double>();
            foreach (var reconstruct in new[] { false, true })
                foreach (var bias in new[] { false, true })
                    accuracy[(reconstruct, bias)] = Top1(Apply(path, context, run, reconstruct, bias), images, labels);
            table.AppendLine($"| {name} | {plain} | {accuracy[(false, false)]:P1} | {accuracy[(false, true)]:P1} |");
            table.AppendLine($"| {name} | {reconstructed} | {accuracy[(true, false)]:P1} | {accuracy[(true, true)]:P1} |");
            foreach (var bias in new[] { false, true })
                Assert.IsTrue(accuracy[(true, bias)] >= accuracy[(false, bias)],
                    $"{name}, bias correction {bias}: {reconstructed} {accuracy[(true, bias)]:P1} vs {plain} {accuracy[(false, bias)]:P1}");
        }
        TestContext.WriteLine(table.ToString());
    }

    [TestMethod]
    public void WhenHalfTheHiddenChannelsArePruned_TheLeastSquaresRefitOfTheConsumerIsMoreAccurate()
    {
        var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var data = Path.Combine(Path.GetDirectoryName(path)!, "data");
        var context = new PassContext(path, Path.Combine(data, "calib_images.npy"));
        var images = Path.Combine(data, "test_images.npy");
        var labels = FeedLoader.LoadLabels(Path.Combine(data, "test_labels.npy"));
        double plain = Top1(PruneChannels(path, context, refit: false), images, labels);
        double refit = Top1(PruneChannels(path, context, refit: true), images, labels);
        TestContext.WriteLine($"mnist-mlp, 50% of the hidden channels of fc1 and fc2 removed (smallest weight norm): top-1 {plain:P1} without refit, {refit:P1} with the ridge least-squares refit of fc2 and fc3");
        Assert.IsTrue(refit >= plain, $"refit {refit:P1} vs plain {plain:P1}");
    }

    // Removes half of fc1's and of fc2's output channels (columns with the smallest L2 norm; zeroed with their bias,
    // which after Relu is the same as removing them) and, with `refit`, fits each consumer's kept rows to the
    // teacher: fc2 on the kept relu1 channels, fc3 on the kept relu2 channels.
    private static byte[] PruneChannels(string path, PassContext context, bool refit)
    {
        using var model = OnnxModel.Load(path);
        var graph = Graph.Open(model);
        var layers = new[] { "fc1.weight", "fc2.weight", "fc3.weight" }
            .Select(name => TeacherLayers.Find(graph.GetConstant(name), out _)!).ToArray();
        var weights = layers.Select(l => l.ReadRowsByInput()).ToArray();
        for (int p = 0; p < 2; p++)
        {
            var producer = layers[p];
            int n = producer.Columns;
            var norms = new float[n];
            for (int r = 0; r < producer.Rows; r++)
                for (int c = 0; c < n; c++) norms[c] += weights[p][r * n + c] * weights[p][r * n + c];
            var order = Enumerable.Range(0, n).OrderBy(c => norms[c]).ThenBy(c => c).ToArray();
            var removed = order[..(n / 2)].ToHashSet();
            var kept = Enumerable.Range(0, n).Where(c => !removed.Contains(c)).ToArray();
            for (int r = 0; r < producer.Rows; r++) foreach (int c in removed) weights[p][r * n + c] = 0;
            var bias = TeacherLayers.FindBias(producer, out _, out _)!;
            var b = bias.AsFloat().ToArray();
            foreach (int c in removed) b[c] = 0;
            bias.Replace(1, bias.Dims.ToArray(), MemoryMarshal.AsBytes(b.AsSpan()).ToArray());

            var consumer = layers[p + 1];
            var w = weights[p + 1];
            int m = consumer.Columns;
            if (refit)
            {
                var (h, _) = TeacherLayers.Statistics(context.Teacher!, consumer, out _)!.Value;
                var fitted = new float[kept.Length * m];
                LeastSquaresRefit.Solve(h.ToDouble(), w, consumer.Rows, m, kept, 1e-3, fitted);
                for (int i = 0; i < kept.Length; i++) fitted.AsSpan(i * m, m).CopyTo(w.AsSpan(kept[i] * m, m));
            }
            foreach (int r in removed) w.AsSpan(r * m, m).Clear();
        }
        for (int i = 0; i < 3; i++)
            layers[i].Constant.Replace(1, layers[i].Constant.Dims.ToArray(), MemoryMarshal.AsBytes(layers[i].ToStoredLayout(weights[i]).AsSpan()).ToArray());
        return PassHarness.Bytes(model);
    }

    // The model with every MatMul weight compressed by `run` (and its bias corrected), as bytes.
    private static byte[] Apply(string path, PassContext context, Compress run, bool reconstruct, bool bias)
    {
        using var model = OnnxModel.Load(path);
        var graph = Graph.Open(model);
        foreach (var name in new[] { "fc1.weight", "fc2.weight", "fc3.weight" })
        {
            var layer = TeacherLayers.Find(graph.GetConstant(name), out string? reason) ?? throw new AssertFailedException(reason ?? name);
            var (h, mean) = TeacherLayers.Statistics(context.Teacher!, layer, out reason) ?? throw new AssertFailedException(reason ?? name);
            var original = layer.ReadRowsByInput();
            var w = original.ToArray();
            run(w, layer.Rows, layer.Columns, h, reconstruct);
            if (bias)
            {
                var target = TeacherLayers.FindBias(layer, out float factor, out reason) ?? throw new AssertFailedException(reason ?? name);
                var shift = new float[layer.Columns];
                BiasCorrection.OutputShift(original, w, layer.Rows, layer.Columns, mean, shift);
                TeacherLayers.AddToBias(target, shift, factor);
            }
            layer.Constant.Replace(1, layer.Constant.Dims.ToArray(), MemoryMarshal.AsBytes(layer.ToStoredLayout(w).AsSpan()).ToArray());
        }
        return PassHarness.Bytes(model);
    }

    // The plain baseline: the smallest |w| of the whole layer (sparsity), or of each group of M inputs per output.
    private static void PruneMagnitude(float[] w, int k, int n, double sparsity, int groupM = 0)
    {
        if (groupM == 0)
        {
            var magnitudes = w.Select(Math.Abs).ToArray();
            Array.Sort(magnitudes);
            float threshold = magnitudes[(int)(sparsity * magnitudes.Length) - 1];
            int budget = (int)(sparsity * w.Length);
            for (int i = 0; i < w.Length && budget > 0; i++)
                if (Math.Abs(w[i]) <= threshold) { w[i] = 0; budget--; }
            return;
        }
        var group = new float[groupM];
        var index = new int[groupM];
        for (int c = 0; c < n; c++)
            for (int g = 0; g < k; g += groupM)
            {
                for (int r = 0; r < groupM; r++) { group[r] = Math.Abs(w[(g + r) * n + c]); index[r] = g + r; }
                Array.Sort(group, index);
                for (int r = 0; r < (int)(sparsity * groupM); r++) w[index[r] * n + c] = 0;
            }
    }

    private static double Top1(byte[] model, string images, long[] labels) => TeacherHarness.Top1(model, images, labels);
}
