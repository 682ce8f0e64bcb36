using System.Diagnostics;
using System.Globalization;
using CompressTasks.Model;
using CompressTasks.TestSupport;

// A plain harness rather than BenchmarkDotNet: one load+save of a 64 MB model is a few hundred milliseconds of mostly
// I/O, so repeated runs and a median say what we need, next to File.Copy of the same file as the floor, and peak
// memory has to come from a fresh process anyway.
return args switch
{
    ["load-save", .. var rest] => LoadSave(rest),
    ["optimize", .. var rest] => OptimizeBenchmark.Run(rest),
    ["precision", .. var rest] => PrecisionBenchmark.Run(rest),
    ["quantize", .. var rest] => QuantizeBenchmark.Run(rest),
    ["reconstruct", .. var rest] => ReconstructBenchmark.Run(rest, ChildRun, ChildPeak(["idle"])),
    ["reconstruct-once", var model, var calibration, var pass, var method] => Report(ReconstructBenchmark.Once(model, calibration, pass, method)),
    ["reconstruct-kernels", .. var rest] => ReconstructBenchmark.Kernels(rest),
    ["reconstruct-resnet18", .. var rest] => ReconstructResNetBenchmark.Run(rest, ChildRun, ChildPeak(["idle"])),
    ["reconstruct-resnet18-once", var calibration, var heldOut, var output, var method, var bits, var blocks] =>
        Report(ReconstructResNetBenchmark.Once(calibration, heldOut, output, method, int.Parse(bits, CultureInfo.InvariantCulture), int.Parse(blocks, CultureInfo.InvariantCulture))),
    ["quantize-static", .. var rest] => QuantizeStaticBenchmark.Run(rest),
    ["quantize-minilm", .. var rest] => QuantizeMiniLMBenchmark.Run(rest),
    ["prune", .. var rest] => PruneBenchmark.Run(rest),
    ["tune", .. var rest] => TuneBenchmark.Run(rest),
    ["large-model", .. var rest] => LargeModelBenchmark.Run(rest, ChildRun, ChildPeak(["idle"])),
    ["large-model-once", var model, var recipe, var output] => Report(LargeModelBenchmark.Once(model, recipe, output)),
    ["load-save-once", var model, var output] => LoadSaveOnce(model, output),
    ["idle"] => Idle(),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: CompressTasks.Benchmarks load-save [--runs N] [model.onnx ...]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks optimize [--rounds N] [--per-round K] [--create-rounds N] [--model NAME-PREFIX] [--sequence N] [--keep DIR]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks precision [--runs N]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks quantize [--runs N] [--model NAME-PREFIX]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks reconstruct [--runs N]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks reconstruct-kernels [K ...]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks reconstruct-resnet18 [--images N] [--bits 4|8] [--conv-blocks B]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks quantize-static [--runs N]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks quantize-minilm [--rounds N] [--per-round N]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks prune [--runs N]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks tune [--model NAME-PREFIX]");
    Console.Error.WriteLine("       CompressTasks.Benchmarks large-model [--gb G] [--hidden H] [--inline] [--keep DIR]");
    Console.Error.WriteLine("  default models: the largest in ../shared/models and ResNet-18 from its NuGet package");
    return 2;
}

static int LoadSave(string[] args)
{
    int runs = 9;
    var models = new List<string>();
    for (int i = 0; i < args.Length; i++)
    {
        if (args[i] == "--runs") runs = int.Parse(args[++i], CultureInfo.InvariantCulture);
        else models.Add(args[i]);
    }
    if (models.Count == 0)
    {
        models.Add(TestPaths.AllSharedModels().MaxBy(p => new FileInfo(p).Length)!);
        models.Add(TestPaths.ResNet18);
    }
    var temp = Directory.CreateTempSubdirectory("ct-bench-").FullName;
    try
    {
        long idlePeak = ChildPeak(["idle"]);
        Console.WriteLine($"load-save: {runs} runs each, median; files in the page cache (warm-up run first); {Environment.ProcessorCount} cores");
        Console.WriteLine($"peak working set of an idle child process (runtime baseline): {idlePeak / 1e6:F1} MB");
        Console.WriteLine();
        Console.WriteLine($"{"model",-32} {"size MB",8} {"load ms",8} {"l+s ms",8} {"load+save MB/s",15} {"File.Copy MB/s",15} {"ratio",7} {"peak MB",8} {"peak/size",9}");
        foreach (var model in models)
        {
            long size = new FileInfo(model).Length;
            var output = Path.Combine(temp, "out.onnx");
            var copy = Path.Combine(temp, "copy.onnx");
            var loads = new List<double>();
            double LoadSaveOnceTimed()
            {
                var clock = Stopwatch.StartNew();
                using (var m = OnnxModel.Load(model))
                {
                    loads.Add(clock.Elapsed.TotalSeconds);
                    m.Save(output);
                }
                return clock.Elapsed.TotalSeconds;
            }
            double CopyTimed()
            {
                File.Delete(copy);
                var clock = Stopwatch.StartNew();
                File.Copy(model, copy);
                return clock.Elapsed.TotalSeconds;
            }
            LoadSaveOnceTimed();
            CopyTimed();
            loads.Clear();
            var loadSave = new List<double>();
            var copies = new List<double>();
            for (int r = 0; r < runs; r++)
            {
                loadSave.Add(LoadSaveOnceTimed());
                copies.Add(CopyTimed());
            }
            double ls = size / 1e6 / Median(loadSave), cp = size / 1e6 / Median(copies);
            long peak = ChildPeak(["load-save-once", model, Path.Combine(temp, "child.onnx")]);
            Console.WriteLine($"{Path.GetFileName(model),-32} {size / 1e6,8:F1} {Median(loads) * 1e3,8:F1} {Median(loadSave) * 1e3,8:F1} {ls,15:F0} {cp,15:F0} {ls / cp,7:F2} {peak / 1e6,8:F1} {(double)peak / size,9:F2}");
        }
        return 0;
    }
    finally
    {
        Directory.Delete(temp, recursive: true);
    }
}

static int LoadSaveOnce(string model, string output)
{
    using (var m = OnnxModel.Load(model)) m.Save(output);
    Console.WriteLine(Process.GetCurrentProcess().PeakWorkingSet64.ToString(CultureInfo.InvariantCulture));
    return 0;
}

static int Idle()
{
    Console.WriteLine(Process.GetCurrentProcess().PeakWorkingSet64.ToString(CultureInfo.InvariantCulture));
    return 0;
}

// Prints a child's result line, then its peak working set on the last line.
static int Report(string line)
{
    Console.WriteLine(line);
    Console.WriteLine(Process.GetCurrentProcess().PeakWorkingSet64.ToString(CultureInfo.InvariantCulture));
    return 0;
}

// Runs this program again: its output's last line is its peak working set, the line before its result.
static (long Peak, string Line) ChildRun(string[] args)
{
    var lines = ChildOutput(args).Trim().Split('\n');
    return (long.Parse(lines[^1].Trim(), CultureInfo.InvariantCulture), lines.Length > 1 ? lines[^2].Trim() : "");
}

// Runs this program again and reads the peak working set it reports just before exiting (VmHWM on Linux).
static long ChildPeak(string[] args) => long.Parse(ChildOutput(args).Trim(), CultureInfo.InvariantCulture);

static string ChildOutput(string[] args)
{
    var self = Environment.ProcessPath!;
    var info = new ProcessStartInfo(self) { RedirectStandardOutput = true };
    if (Path.GetFileNameWithoutExtension(self) == "dotnet") info.ArgumentList.Add(typeof(OnnxModel).Assembly.Location.Replace("CompressTasks.Model.dll", "CompressTasks.Benchmarks.dll"));
    foreach (var a in args) info.ArgumentList.Add(a);
    using var child = Process.Start(info)!;
    var text = child.StandardOutput.ReadToEnd();
    child.WaitForExit();
    if (child.ExitCode != 0) throw new InvalidOperationException($"child {string.Join(' ', args)} failed with {child.ExitCode}");
    return text;
}

static double Median(List<double> values)
{
    values.Sort();
    return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
}
