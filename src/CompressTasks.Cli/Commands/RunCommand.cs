using System.Text.Json;
using CompressTasks.Diagnostics;
using CompressTasks.Engine;

namespace CompressTasks.Cli.Commands;

/// <summary>
/// <c>compress run MODEL [--recipe R] -o OUT [--report-dir D] [--verify|--no-verify]</c>, or
/// <c>compress run --response FILE</c> for many models in one process (what the MSBuild task uses).
/// </summary>
/// <remarks>
/// A response file holds one job per line as a JSON object (JSON Lines), so any path survives quoting:
/// <code>{"model":"a/m.onnx","recipe":"a/compression.yaml","output":"obj/compress/m.onnx","reportDir":"obj/compress","verify":true}</code>
/// <c>model</c> and <c>output</c> are required; <c>recipe</c>, <c>reportDir</c> (default: the output's folder),
/// <c>verify</c>, <c>latency</c>, <c>cacheDir</c>, <c>expectOutput</c> (the recipe's <c>output:</c> as the build read it,
/// checked against the recipe) and <c>depsFile</c> (where to list the data and base recipe files the result depends on)
/// are optional. Without <c>-o</c>, a single model goes to its recipe's <c>output:</c>, beside the model. Blank lines and lines starting with <c>#</c> are skipped. Relative paths are
/// relative to the current directory. Every job runs even when an earlier one fails, so one build reports every
/// broken model; the exit code is 1 if any job failed. Each success prints its one-line summary on stdout; each
/// failure prints one canonical <c>file(line,col): error CTxxxx: message</c> line on stderr.
/// </remarks>
internal static class RunCommand
{
    /// <summary>Starts each progress line on stdout; the MSBuild task logs such lines at normal importance.</summary>
    public const string ProgressPrefix = "progress: ";

    public const string Usage =
        "usage: compress run MODEL [--recipe RECIPE] [-o OUTPUT] [--report-dir DIR] [--verify|--no-verify] [--latency|--no-latency] [--cache-dir DIR]\n" +
        "       compress run --response FILE [--cache-dir DIR]   (one JSON job per line: model, output, recipe?, reportDir?, verify?, latency?, cacheDir?, expectOutput?, depsFile?)\n" +
        "       without -o, the output is the recipe's output: (a file name) beside the model";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        List<CompressionRequest> jobs;
        try
        {
            jobs = ParseArguments(args);
        }
        catch (CompressTasksException e) when (e.Code == DiagnosticCodes.ToolUsage)
        {
            stderr.WriteLine(e.ToString());
            stderr.WriteLine(Usage);
            return 2;
        }
        catch (CompressTasksException e)
        {
            // The recipe, read for its output: when -o is absent, is broken.
            stderr.WriteLine(e.ToString());
            return 1;
        }
        catch (AggregateException e) when (e.InnerExceptions.All(x => x is CompressTasksException))
        {
            foreach (var inner in e.InnerExceptions) stderr.WriteLine(inner.ToString());
            return 1;
        }

        int failed = 0;
        foreach (var job in jobs)
        {
            try
            {
                var result = Compressor.Run(job with { Progress = line => stdout.WriteLine(ProgressPrefix + line) });
                foreach (var (code, warning) in result.Warnings.Select(CompressionResult.SplitWarning))
                    stderr.WriteLine($"{job.RecipePath ?? job.ModelPath}: warning {code}: {warning}");
                stdout.WriteLine(result.Summary);
            }
            catch (AggregateException e) when (e.InnerExceptions.All(x => x is CompressTasksException))
            {
                failed++;
                foreach (var inner in e.InnerExceptions) stderr.WriteLine(inner.ToString());
            }
            catch (CompressTasksException e)
            {
                failed++;
                stderr.WriteLine(e.ToString());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                failed++;
                stderr.WriteLine(new CompressTasksException(DiagnosticCodes.ModelWriteFailed, e.Message, job.OutputPath).ToString());
            }
            catch (Exception e)
            {
                // A bug: still name the model and keep going, so the build reports it against the right file.
                failed++;
                stderr.WriteLine(new CompressTasksException(DiagnosticCodes.ToolCrashed,
                    $"internal error: {e.GetType().Name}: {e.Message}".ReplaceLineEndings(" "), job.ModelPath).ToString());
            }
        }
        return failed == 0 ? 0 : 1;
    }

    internal static List<CompressionRequest> ParseArguments(string[] args)
    {
        string? model = null, recipe = null, output = null, reportDir = null, response = null, cacheDir = null;
        bool? verify = null, latency = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw UsageError($"option '{args[i]}' needs a value");
            switch (args[i])
            {
                case "--recipe" or "-r": recipe = Value(); break;
                case "--output" or "-o": output = Value(); break;
                case "--report-dir": reportDir = Value(); break;
                case "--response": response = Value(); break;
                case "--cache-dir": cacheDir = Value(); break;
                case "--verify": verify = true; break;
                case "--no-verify": verify = false; break;
                case "--latency": latency = true; break;
                case "--no-latency": latency = false; break;
                case var a when a.StartsWith('-'): throw UsageError($"unknown option '{a}'; options: --recipe, -o/--output, --report-dir, --verify, --no-verify, --latency, --no-latency, --cache-dir, --response");
                case var a when model is null: model = a; break;
                default: throw UsageError($"unexpected argument '{args[i]}': give one model, or use --response for several");
            }
        }
        if (response is not null)
        {
            if (model is not null || recipe is not null || output is not null || reportDir is not null || verify is not null || latency is not null)
                throw UsageError("--response cannot be combined with a model or other options");
            return ReadResponseFile(response).Select(j => j with { CacheDirectory = j.CacheDirectory ?? cacheDir }).ToList();
        }
        if (model is null) throw UsageError("no model given");
        if (output is null && recipe is not null) output = Compressor.DefaultOutputPath(model, recipe);
        if (output is null) throw UsageError("no output given: pass -o OUTPUT, or name it in the recipe (output: model-small.onnx)");
        return [Request(model, recipe, output, reportDir, verify) with { CacheDirectory = cacheDir, Latency = latency }];
    }

    internal static List<CompressionRequest> ReadResponseFile(string path)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CompressTasksException(DiagnosticCodes.ToolUsage, $"cannot read response file: {e.Message}", path);
        }
        var jobs = new List<CompressionRequest>();
        for (int n = 0; n < lines.Length; n++)
        {
            string line = lines[n].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new JsonException("a job must be a JSON object");
                string? Get(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v.GetString() : null;
                bool? verify = root.TryGetProperty("verify", out var vv) && vv.ValueKind is JsonValueKind.True or JsonValueKind.False ? vv.GetBoolean() : null;
                string model = Get("model") ?? throw new JsonException("missing \"model\"");
                string output = Get("output") ?? throw new JsonException("missing \"output\"");
                bool? latency = root.TryGetProperty("latency", out var lv) && lv.ValueKind is JsonValueKind.True or JsonValueKind.False ? lv.GetBoolean() : null;
                jobs.Add(Request(model, Get("recipe"), output, Get("reportDir"), verify) with
                {
                    CacheDirectory = Get("cacheDir"),
                    Latency = latency,
                    ExpectedRecipeOutput = Get("expectOutput"),
                    DependencyFile = Get("depsFile"),
                });
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException)
            {
                throw new CompressTasksException(DiagnosticCodes.ToolUsage,
                    $"bad job: {e.Message}; expected {{\"model\":…,\"output\":…,\"recipe\":…,\"reportDir\":…,\"verify\":…}}", path, n + 1, 1);
            }
        }
        return jobs;
    }

    private static CompressionRequest Request(string model, string? recipe, string output, string? reportDir, bool? verify) =>
        new(model, string.IsNullOrEmpty(recipe) ? null : recipe, output,
            string.IsNullOrEmpty(reportDir) ? Path.GetDirectoryName(Path.GetFullPath(output))! : reportDir)
        { Verify = verify };

    private static CompressTasksException UsageError(string message) => new(DiagnosticCodes.ToolUsage, message);
}
