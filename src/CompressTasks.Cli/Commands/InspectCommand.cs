using System.Globalization;
using CompressTasks.Graphs;
using CompressTasks.Model;

namespace CompressTasks.Cli.Commands;

/// <summary>
/// <c>compress inspect MODEL [--json]</c>: versions, inputs/outputs, operator histogram (main graph and subgraphs
/// apart), parameter count, bytes by type, the largest constants and external data files. Read-only.
/// </summary>
internal static partial class InspectCommand
{
    private const int Largest = 10;

    /// <summary>Runs the command. Load failures surface as <c>CompressTasksException</c> (CT01xx) for Program to print.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string? path = null;
        bool json = false;
        foreach (var a in args)
        {
            if (a == "--json") json = true;
            else if (a is "-h" or "--help")
            {
                stdout.WriteLine("usage: compress inspect MODEL [--json]");
                return 0;
            }
            else if (a.StartsWith('-') || path is not null)
            {
                stderr.WriteLine($"compress inspect: unexpected argument '{a}'; usage: compress inspect MODEL [--json]");
                return 2;
            }
            else path = a;
        }
        if (path is null)
        {
            stderr.WriteLine("compress inspect: missing MODEL; usage: compress inspect MODEL [--json]");
            return 2;
        }
        using var model = OnnxModel.Load(path);
        var summary = ModelSummary.Of(Graph.Open(model));
        if (json) WriteJson(summary, path, stdout);
        else WriteText(summary, path, stdout);
        return 0;
    }

    private static void WriteText(ModelSummary s, string path, TextWriter o)
    {
        var c = CultureInfo.InvariantCulture;
        o.WriteLine($"model:       {path}");
        o.WriteLine($"ir_version:  {s.IrVersion}");
        o.WriteLine($"producer:    {(s.Producer.Length == 0 ? "(none)" : s.Producer)}");
        o.WriteLine($"opsets:      {string.Join(", ", s.Opsets.Select(x => $"{x.Domain} {x.Version}"))}");
        o.WriteLine("inputs:");
        foreach (var v in s.Inputs) o.WriteLine($"  {v.Name}  {v.ElementType} {Shape(v.Shape)}");
        o.WriteLine("outputs:");
        foreach (var v in s.Outputs) o.WriteLine($"  {v.Name}  {v.ElementType} {Shape(v.Shape)}");
        o.WriteLine("operators (main graph, +inside subgraphs):");
        foreach (var op in s.Operators)
            o.WriteLine(op.InSubgraphs == 0 ? $"  {op.OpType,-24} {op.InMainGraph,6}" : $"  {op.OpType,-24} {op.InMainGraph,6}  +{op.InSubgraphs} in subgraphs");
        o.WriteLine(string.Create(c, $"parameters:  {s.ParameterCount:N0}"));
        o.WriteLine("bytes by type:");
        foreach (var (type, bytes) in s.BytesByType) o.WriteLine(string.Create(c, $"  {type,-12} {bytes,14:N0}"));
        o.WriteLine($"largest constants (top {Largest}):");
        foreach (var k in s.Constants.Take(Largest))
            o.WriteLine(string.Create(c, $"  {k.Name}  {k.ElementType} [{string.Join(",", k.Dims)}]  {k.Bytes:N0} bytes{Where(k)}"));
        o.WriteLine("external data:");
        if (s.ExternalFiles.Count == 0) o.WriteLine("  (none)");
        foreach (var f in s.ExternalFiles) o.WriteLine(string.Create(c, $"  {f.Location}  {f.Bytes:N0} bytes in {f.Tensors} tensors"));
    }

    private static string Where(ConstantSummary k) =>
        (k.Source == ConstantSource.ConstantNode ? " (Constant node)" : "") + (k.GraphPath.Contains('/', StringComparison.Ordinal) ? $" in {k.GraphPath}" : "");

    private static string Shape(IReadOnlyList<string>? dims) => dims is null ? "(unknown shape)" : $"[{string.Join(",", dims)}]";
}
