using System.Globalization;
using System.Text;
using System.Text.Json;
using CompressTasks.Graphs;
using CompressTasks.Model;

namespace CompressTasks.Cli.Commands;

/// <summary>
/// <c>compress inspect MODEL [--json]</c>: versions, inputs/outputs, operator histogram (main graph and subgraphs
/// apart), parameter count, bytes by type, the largest constants and external data files. Read-only.
/// </summary>
internal static class InspectCommand
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

    private static void WriteJson(ModelSummary s, string path, TextWriter o)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("model", path);
            w.WriteNumber("irVersion", s.IrVersion);
            w.WriteString("producer", s.Producer);
            w.WriteStartArray("opsets");
            foreach (var (domain, version) in s.Opsets)
            {
                w.WriteStartObject();
                w.WriteString("domain", domain);
                w.WriteNumber("version", version);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            WriteValues(w, "inputs", s.Inputs);
            WriteValues(w, "outputs", s.Outputs);
            w.WriteStartArray("operators");
            foreach (var op in s.Operators)
            {
                w.WriteStartObject();
                w.WriteString("opType", op.OpType);
                w.WriteNumber("mainGraph", op.InMainGraph);
                w.WriteNumber("subgraphs", op.InSubgraphs);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("parameters", s.ParameterCount);
            w.WriteStartObject("bytesByType");
            foreach (var (type, bytes) in s.BytesByType) w.WriteNumber(type, bytes);
            w.WriteEndObject();
            w.WriteStartArray("largestConstants");
            foreach (var k in s.Constants.Take(Largest))
            {
                w.WriteStartObject();
                w.WriteString("name", k.Name);
                w.WriteString("graph", k.GraphPath);
                w.WriteString("source", k.Source == ConstantSource.ConstantNode ? "constant-node" : "initializer");
                w.WriteString("elementType", k.ElementType);
                w.WriteStartArray("dims");
                foreach (var d in k.Dims) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteNumber("bytes", k.Bytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("externalData");
            foreach (var f in s.ExternalFiles)
            {
                w.WriteStartObject();
                w.WriteString("location", f.Location);
                w.WriteNumber("tensors", f.Tensors);
                w.WriteNumber("bytes", f.Bytes);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        o.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static void WriteValues(Utf8JsonWriter w, string name, IReadOnlyList<ValueSummary> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values)
        {
            w.WriteStartObject();
            w.WriteString("name", v.Name);
            w.WriteString("elementType", v.ElementType);
            if (v.Shape is null) w.WriteNull("shape");
            else
            {
                w.WriteStartArray("shape");
                // Fixed dimensions as numbers, symbolic ones by name.
                foreach (var d in v.Shape)
                    if (long.TryParse(d, NumberStyles.None, CultureInfo.InvariantCulture, out long n)) w.WriteNumberValue(n);
                    else w.WriteStringValue(d);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
