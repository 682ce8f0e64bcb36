using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using CompressTasks.Model;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;

/// <summary>
/// <c>reconstruct-resnet18 [--images N] [--bits 4|8] [--conv-blocks B]</c>: ResNet-18 (the NuGet sample, opset 8) through
/// convert-opset 21 and quantize-int4 (Conv kernels as int4 DequantizeLinear per output channel, or with
/// <c>--conv-blocks B</c> per B input channels at each kernel position; <c>--bits 8</c>:
/// quantize-weights-int8 per channel at the model's own opset) with <c>method: rtn</c> and <c>method: gptq</c>, each in
/// a fresh child process: time (statistics included), peak working set, size, and agreement with the fp32 model
/// (cosine and relative MSE of the 512 features) on held-out images. Calibration and held-out images are random
/// normalized images from a fixed seed, not photographs: fine for timing and memory, not an accuracy claim.
/// </summary>
internal static class ReconstructResNetBenchmark
{
    public static int Run(string[] args, Func<string[], (long Peak, string Line)> child, long idlePeak)
    {
        int images = 8, bits = 4, blocks = 0;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--images") images = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--bits") bits = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--conv-blocks") blocks = int.Parse(args[++i], CultureInfo.InvariantCulture);
        }
        var temp = Directory.CreateTempSubdirectory("ct-resnet-gptq-").FullName;
        try
        {
            var calibration = Path.Combine(temp, "calibration.npy");
            var heldOut = Path.Combine(temp, "held-out.npy");
            WriteImages(calibration, images, seed: 1);
            WriteImages(heldOut, 8, seed: 2);
            long size = new FileInfo(TestPaths.ResNet18).Length;
            Console.WriteLine($"reconstruct-resnet18: {size / 1e6:F1} MB, {images} calibration images (random, normalized), 8 held-out; {bits}-bit Conv kernels{(blocks > 0 ? $" in blocks of {blocks} input channels" : "")}; {Environment.ProcessorCount} cores");
            Console.WriteLine($"peak working set of an idle child process (runtime baseline): {idlePeak / 1e6:F1} MB");
            Console.WriteLine($"{"method",-6} {"total s",8} {"stats s",8} {"sweeps",7} {"peak MB",8} {"peak/size",9} {"out MB",7} {"cosine",9} {"rel. MSE",9}");
            foreach (var method in new[] { "rtn", "gptq" })
            {
                var output = Path.Combine(temp, $"{method}.onnx");
                var (peak, line) = child(["reconstruct-resnet18-once", calibration, heldOut, output, method, bits.ToString(CultureInfo.InvariantCulture), blocks.ToString(CultureInfo.InvariantCulture)]);
                var f = line.Split(' ');
                // Agreement here, after the child's peak was taken: its ORT sessions are not the pass's memory.
                var (cosine, mse) = Agreement(File.ReadAllBytes(TestPaths.ResNet18), File.ReadAllBytes(output), heldOut);
                Console.WriteLine($"{method,-6} {f[0],8} {f[1],8} {f[2],7} {peak / 1e6,8:F1} {(double)peak / size,9:F1} {new FileInfo(output).Length / 1e6,7:F1} {cosine,9:F5} {mse,9:E2}");
            }
        }
        finally
        {
            Directory.Delete(temp, recursive: true);
        }
        return 0;
    }

    /// <summary>One run in this process (load, passes, save); prints "totalS statsS sweeps".</summary>
    public static string Once(string calibration, string heldOut, string output, string method, int bits, int blocks)
    {
        var path = TestPaths.ResNet18;
        var context = new PassContext(path, calibration);
        var steps = new List<PassStep>();
        if (bits == 4)
        {
            var convert = PassRegistry.Get("convert-opset");
            steps.Add(new PassStep(convert, new PassArguments(convert.Descriptor, [new("target-opset", 21)])));
            var int4 = PassRegistry.Get("quantize-int4");
            steps.Add(new PassStep(int4, new PassArguments(int4.Descriptor,
                [new("format", "dequantize-linear"), new("op-types", new[] { "Conv" }), new("method", method), new("min-elements", 1),
                 .. blocks > 0 ? new KeyValuePair<string, object>[] { new("conv-blocks", "input-channels"), new("block-size", blocks) } : []])));
        }
        else
        {
            var convert = PassRegistry.Get("convert-opset");
            steps.Add(new PassStep(convert, new PassArguments(convert.Descriptor, [new("target-opset", 13)])));
            var int8 = PassRegistry.Get("quantize-weights-int8");
            steps.Add(new PassStep(int8, new PassArguments(int8.Descriptor, [new("op-types", new[] { "Conv" }), new("method", method), new("min-elements", 1)])));
        }
        var clock = Stopwatch.StartNew();
        using (var m = OnnxModel.Load(path))
        {
            var runs = PassManager.Run(m, steps, context: context);
            if (runs[^1].Result.Rewritten == 0) throw new InvalidOperationException(string.Join("; ", runs[^1].Result.Notes));
            m.Save(output);
        }
        double total = clock.Elapsed.TotalSeconds;
        double stats = method == "gptq" ? context.Teacher!.Elapsed.TotalSeconds : 0;
        int sweeps = method == "gptq" ? context.Teacher!.Batches / Math.Max(1, ImageCount(calibration)) : 0;
        return string.Create(CultureInfo.InvariantCulture, $"{total:F1} {stats:F1} {sweeps}");
    }

    private static int ImageCount(string npy) => (int)NpyReader.Read(npy).Shape[0];

    private static (double Cosine, double Mse) Agreement(byte[] original, byte[] compressed, string images)
    {
        var options = new RuntimeOptions { Optimization = OptimizationLevel.All };
        using var a = ModelSession.Open(original, "fp32", options);
        using var b = ModelSession.Open(compressed, "compressed", options);
        double dot = 0, na = 0, nb = 0, error = 0;
        foreach (var feed in FeedLoader.Load(images, a.Inputs, maxRows: 1000))
        {
            var y = a.Run(feed)[0].ToFloats();
            var z = b.Run(feed)[0].ToFloats();
            for (int i = 0; i < y.Length; i++)
            {
                dot += (double)y[i] * z[i];
                na += (double)y[i] * y[i];
                nb += (double)z[i] * z[i];
                error += ((double)z[i] - y[i]) * (z[i] - y[i]);
            }
        }
        return (dot / Math.Sqrt(na * nb), error / na);
    }

    // [n, 3, 224, 224] float32: uniform pixels in [0, 1] normalized with the ImageNet mean and deviation.
    private static void WriteImages(string path, int n, int seed)
    {
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        var random = new Random(seed);
        var values = new float[n * 3 * 224 * 224];
        for (int i = 0; i < values.Length; i++)
        {
            int channel = i / (224 * 224) % 3;
            values[i] = (random.NextSingle() - mean[channel]) / std[channel];
        }
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, 3, 224, 224), }}";
        header = header.PadRight(128 - 10 - 1) + "\n";
        using var stream = File.Create(path);
        stream.Write([0x93, .. "NUMPY"u8, 1, 0, (byte)header.Length, 0]);
        stream.Write(Encoding.ASCII.GetBytes(header));
        stream.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }
}
