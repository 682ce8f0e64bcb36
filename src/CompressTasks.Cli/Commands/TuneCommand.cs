using System.Globalization;
using CompressTasks.Engine.Tuning;

namespace CompressTasks.Cli.Commands;

/// <summary>
/// <c>compress tune MODEL --recipe R [-o tuned.yaml] [--objective size|latency] [--min-cosine X] [--cache-dir D]</c>: the
/// recipe's <c>auto:</c> candidates, one per layer, as small (or fast) as the budget allows; writes an ordinary recipe.
/// </summary>
internal static class TuneCommand
{
    private const string Usage = "usage: compress tune MODEL --recipe R [-o tuned.yaml] [--objective size|latency] [--min-cosine X] [--cache-dir D]";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? model = null, recipe = null, output = null, objective = null, cache = null;
        double? minCosine = null;
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            string? Next() => i + 1 < args.Length ? args[++i] : null;
            switch (a)
            {
                case "-h" or "--help": stdout.WriteLine(Usage); return 0;
                case "--recipe": recipe = Next(); break;
                case "-o" or "--output": output = Next(); break;
                case "--cache-dir": cache = Next(); break;
                case "--objective":
                    objective = Next();
                    if (objective is not ("size" or "latency")) return Fail(stderr, $"--objective takes size or latency, not '{objective}'");
                    break;
                case "--min-cosine":
                    if (!double.TryParse(Next(), NumberStyles.Float, CultureInfo.InvariantCulture, out var c) || c is < -1 or > 1)
                        return Fail(stderr, "--min-cosine takes a number in [-1, 1]");
                    minCosine = c;
                    break;
                default:
                    if (a.StartsWith('-') || model is not null) return Fail(stderr, $"unexpected argument '{a}'");
                    model = a;
                    break;
            }
        }
        if (model is null || recipe is null) return Fail(stderr, "MODEL and --recipe are required");

        var result = Tuner.Tune(model, recipe, new TuneOptions { MinCosine = minCosine, Objective = objective, CacheDirectory = cache, Progress = stderr.WriteLine });
        output ??= Path.Combine(Path.GetDirectoryName(Path.GetFullPath(recipe))!, Path.GetFileNameWithoutExtension(model) + ".tuned.yaml");
        var temp = output + $".{Environment.ProcessId}.tmp";
        File.WriteAllText(temp, result.TunedRecipeText);
        File.Move(temp, output, overwrite: true);
        SensitivityCommand.WriteTable(result.Table, result.Assignment, stdout);
        foreach (var note in result.Notes) stdout.WriteLine($"note: {note}");
        stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(model)}: {result.Table.BaseBytes / 1e6:0.###} MB → {result.TunedBytes / 1e6:0.###} MB, cosine {result.TuningCosine:0.######} (tuning), {result.HeldOutCosine:0.######} ({result.HeldOutData}){(result.FromCache ? ", from the cache" : "")}; recipe: {output}"));
        return 0;
    }

    private static int Fail(TextWriter stderr, string message)
    {
        stderr.WriteLine($"compress tune: {message}; {Usage}");
        return 2;
    }
}
