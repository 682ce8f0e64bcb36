using System.Globalization;
using System.Text;
using System.Text.Json;
using CompressTasks.Graphs;

namespace CompressTasks.Cli.Commands;

// `inspect --json`: the same facts as the text form, for scripts; fixed dimensions as numbers, symbolic ones as strings.
internal static partial class InspectCommand
{
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
