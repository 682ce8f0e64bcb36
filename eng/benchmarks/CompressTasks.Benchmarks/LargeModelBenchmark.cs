using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using CompressTasks.Engine;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using Google.Protobuf;

/// <summary>
/// <c>large-model [--gb G] [--hidden H] [--inline] [--keep DIR]</c>: a generated MLP whose float32 weights (G GB in
/// all, default 2.5, above protobuf's 2 GiB limit) live in an external data file (with <c>--inline</c>: inside the
/// model file, which must then stay under 2 GiB, e.g. <c>--gb 1.9</c>), run through the whole pipeline the MSBuild task
/// and the CLI use (<see cref="Compressor.Run"/>: load, passes, atomic save, verification in ONNX Runtime, report), each
/// job in a fresh child process: wall time and peak working set against the model's size. Jobs: load + save alone,
/// then recipes with weight-only int8 and int4 (MatMulNBits), both verified against the original.
/// </summary>
/// <remarks>
/// The model is <c>x [1, H] → (MatMul W_i [H, H] → Add b_i → Relu) × L → y</c>, weights uniform in ±√(3/H)·√2 (He
/// scaling, so activations keep their size through the layers), written straight to the data file in 64 MB pieces:
/// the parent never holds the model either.
/// </remarks>
internal static class LargeModelBenchmark
{
    private static readonly (string Name, string? Recipe)[] Jobs =
    [
        ("load+save", null),
        ("int8", "passes:\n  - quantize-weights-int8\nverify:\n  min-cosine: 0.999\n"),
        ("int4", "passes:\n  - quantize-int4\nverify:\n  min-cosine: 0.9\n"),
    ];

    public static int Run(string[] args, Func<string[], (long Peak, string Line)> child, long idlePeak)
    {
        double gb = 2.5;
        int hidden = 4096;
        string? keep = null;
        bool inline = false;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--inline") inline = true;
            else if (args[i] == "--gb") gb = double.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--hidden") hidden = int.Parse(args[++i], CultureInfo.InvariantCulture);
            else if (args[i] == "--keep") keep = args[++i];
        }
        var temp = keep ?? Directory.CreateTempSubdirectory("ct-large-model-").FullName;
        Directory.CreateDirectory(temp);
        try
        {
            int layers = Math.Max(1, (int)Math.Round(gb * 1e9 / (4.0 * hidden * hidden)));
            var external = Path.Combine(temp, $"large-{layers}x{hidden}.onnx");
            if (!File.Exists(external)) Generate(external, hidden, layers);
            var model = external;
            if (inline)
            {
                model = Path.Combine(temp, $"large-{layers}x{hidden}-inline.onnx");
                if (!File.Exists(model))
                    using (var m = OnnxModel.Load(external)) m.Save(model, new SaveOptions { ExternalData = ExternalDataPolicy.None });
            }
            long size = new FileInfo(model).Length + (File.Exists(model + ".data") ? new FileInfo(model + ".data").Length : 0);
            Console.WriteLine($"large-model: {layers} × MatMul [{hidden}, {hidden}] + Add + Relu, {size / 1e9:F2} GB, {(inline ? "inline" : $"external data ({new FileInfo(model).Length / 1e3:F0} KB .onnx file)")}; {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1e9:F1} GB memory");
            Console.WriteLine($"peak working set of an idle child process (runtime baseline): {idlePeak / 1e6:F1} MB");
            Console.WriteLine($"{"job",-10} {"total s",8} {"out GB",7} {"peak GB",8} {"peak/size",9}  summary");
            foreach (var (name, recipe) in Jobs)
            {
                var folder = Path.Combine(temp, name.Replace('+', '-'));
                Directory.CreateDirectory(folder);
                string recipePath = "-";
                if (recipe is not null) File.WriteAllText(recipePath = Path.Combine(folder, "compression.yaml"), recipe);
                var output = Path.Combine(folder, Path.GetFileName(model));
                var (peak, line) = child(["large-model-once", model, recipePath, output]);
                var f = line.Split(' ', 2);
                long written = new FileInfo(output).Length + (File.Exists(output + ".data") ? new FileInfo(output + ".data").Length : 0);
                Console.WriteLine($"{name,-10} {f[0],8} {written / 1e9,7:F2} {peak / 1e9,8:F2} {(double)peak / size,9:F2}  {(f.Length > 1 ? f[1] : "")}");
                if (keep is null) Directory.Delete(folder, recursive: true);
            }
        }
        finally
        {
            if (keep is null) Directory.Delete(temp, recursive: true);
        }
        return 0;
    }

    /// <summary>One job in this process; prints "totalS summary".</summary>
    public static string Once(string model, string recipe, string output)
    {
        var clock = Stopwatch.StartNew();
        string summary;
        if (recipe == "-")
        {
            using (var m = OnnxModel.Load(model)) m.Save(output);
            summary = "OnnxModel.Load + Save";
        }
        else
        {
            var result = Compressor.Run(new CompressionRequest(model, recipe, output, Path.GetDirectoryName(output)!) { Verify = true });
            summary = result.Summary;
        }
        return string.Create(CultureInfo.InvariantCulture, $"{clock.Elapsed.TotalSeconds:F1} {summary}");
    }

    private static void Generate(string path, int hidden, int layers)
    {
        var data = path + ".data";
        var graph = new GraphProto { Name = "large-mlp" };
        graph.Input.Add(Value("x", hidden));
        var weight = new float[hidden * hidden];
        var bias = new float[hidden];
        ulong state = 0x9E3779B97F4A7C15;
        float bound = MathF.Sqrt(6f / hidden);
        float Next()
        {
            // xorshift64*: fast, fixed seed, uniform in [−1, 1).
            state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
            return (int)((state * 0x2545F4914F6CDD1D) >> 40) / (float)(1 << 23) - 1f;
        }
        long offset = 0;
        using (var stream = new FileStream(data, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            string x = "x";
            for (int l = 0; l < layers; l++)
            {
                for (int i = 0; i < weight.Length; i++) weight[i] = bound * Next();
                for (int i = 0; i < bias.Length; i++) bias[i] = 0.01f * Next();
                graph.Initializer.Add(External($"w{l}", [hidden, hidden], data, ref offset, MemoryMarshal.AsBytes(weight.AsSpan()), stream));
                graph.Initializer.Add(External($"b{l}", [hidden], data, ref offset, MemoryMarshal.AsBytes(bias.AsSpan()), stream));
                string y = l == layers - 1 ? "y" : $"h{l}";
                graph.Node.Add(Node("MatMul", [x, $"w{l}"], $"mm{l}"));
                graph.Node.Add(Node("Add", [$"mm{l}", $"b{l}"], $"add{l}"));
                graph.Node.Add(Node("Relu", [$"add{l}"], y));
                x = y;
            }
        }
        graph.Output.Add(Value("y", hidden));
        var proto = new ModelProto { IrVersion = 8, ProducerName = "CompressTasks.Benchmarks", Graph = graph };
        proto.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        File.WriteAllBytes(path, proto.ToByteArray());
    }

    private static TensorProto External(string name, long[] dims, string data, ref long offset, ReadOnlySpan<byte> bytes, Stream stream)
    {
        var t = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, DataLocation = TensorProto.Types.DataLocation.External };
        t.Dims.AddRange(dims);
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = Path.GetFileName(data) });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(CultureInfo.InvariantCulture) });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = bytes.Length.ToString(CultureInfo.InvariantCulture) });
        stream.Write(bytes);
        offset += bytes.Length;
        // 4 KiB alignment, as our writer and ONNX Runtime's memory mapping prefer.
        long padded = (offset + 4095) & ~4095L;
        if (padded > offset) stream.Write(new byte[padded - offset]);
        offset = padded;
        return t;
    }

    private static NodeProto Node(string op, string[] inputs, string output)
    {
        var n = new NodeProto { OpType = op, Name = output };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        return n;
    }

    private static ValueInfoProto Value(string name, int hidden)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = 1 });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = hidden });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } } };
    }
}

