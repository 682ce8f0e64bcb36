using System.Globalization;
using CompressTasks.Engine.Tuning;
using CompressTasks.Verification;

namespace CompressTasks.Cli.Commands;

/// <summary>
/// <c>compress sensitivity MODEL --recipe R</c>: every <c>auto:</c> candidate on every layer alone: output cosine
/// against the original and bytes saved, as a table (the input to <c>compress tune</c>).
/// </summary>
internal static class SensitivityCommand
{
    private const string Usage = "usage: compress sensitivity MODEL --recipe R";

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? model = null, recipe = null;
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] is "-h" or "--help")
            {
                stdout.WriteLine(Usage);
                return 0;
            }
            if (args[i] == "--recipe" && i + 1 < args.Length) recipe = args[++i];
            else if (!args[i].StartsWith('-') && model is null) model = args[i];
            else
            {
                stderr.WriteLine($"compress sensitivity: unexpected argument '{args[i]}'; {Usage}");
                return 2;
            }
        }
        if (model is null || recipe is null)
        {
            stderr.WriteLine($"compress sensitivity: MODEL and --recipe are required; {Usage}");
            return 2;
        }
        WriteTable(Tuner.Sensitivity(model, recipe, new TuneOptions { Progress = stderr.WriteLine }), null, stdout);
        return 0;
    }

    /// <summary>One line per layer: cosine / bytes saved per treatment; <c>*</c> marks the chosen one.</summary>
    public static void WriteTable(SensitivityTable table, IReadOnlyDictionary<string, int>? chosen, TextWriter o)
    {
        int width = Math.Max(12, table.Layers.DefaultIfEmpty("").Max(l => l.Length));
        for (int t = 0; t < table.Treatments.Count; t++) o.WriteLine($"[{t}] {table.Treatments[t]}");
        o.WriteLine("layer".PadRight(width) + string.Concat(table.Treatments.Select((_, t) => $"  {"[" + t + "] cosine / saved",-28}")));
        foreach (var layer in table.Layers)
        {
            o.Write(layer.PadRight(width));
            for (int t = 0; t < table.Treatments.Count; t++)
            {
                var cell = table.Find(layer, t);
                string mark = chosen is not null && chosen.GetValueOrDefault(layer, -1) == t ? "*" : " ";
                o.Write(cell is null ? $"  {"—",-28}" : string.Create(CultureInfo.InvariantCulture, $"  {mark}{cell.Cosine,-12:0.########} {cell.BytesSaved,12:N0}  "));
            }
            o.WriteLine();
        }
    }
}
