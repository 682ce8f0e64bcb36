using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace CompressTasks.Verification;

/// <summary>Writes a report as JSON (machine-readable), Markdown and a self-contained HTML page with SVG charts.</summary>
public static partial class ReportWriter
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes <c>{name}.report.json</c>, <c>.md</c> and <c>.html</c> into <paramref name="directory"/>; returns the JSON path.</summary>
    public static string Write(CompressionReport report, string directory, string name)
    {
        Directory.CreateDirectory(directory);
        var json = Path.Combine(directory, name + ".report.json");
        WriteAtomically(json, JsonSerializer.Serialize(report, Json));
        WriteAtomically(Path.Combine(directory, name + ".report.md"), ToMarkdown(report));
        WriteAtomically(Path.Combine(directory, name + ".report.html"), ToHtml(report));
        return json;
    }

    public static string ToJson(CompressionReport report) => JsonSerializer.Serialize(report, Json);

    public static string ToMarkdown(CompressionReport r)
    {
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"# {Path.GetFileName(r.Model)}\n\n{r.SummaryLine()}\n\n");
        s.Append("| | original | compressed |\n|---|---:|---:|\n");
        s.Append(CultureInfo.InvariantCulture, $"| size | {CompressionReport.Megabytes(r.Original.FileBytes)} | {CompressionReport.Megabytes(r.Compressed.FileBytes)} |\n");
        s.Append(CultureInfo.InvariantCulture, $"| nodes | {r.Original.Nodes} | {r.Compressed.Nodes} |\n");
        s.Append(CultureInfo.InvariantCulture, $"| tensors | {r.Original.Initializers} | {r.Compressed.Initializers} |\n");
        s.Append(CultureInfo.InvariantCulture, $"| parameters | {r.Original.Parameters:N0} | {r.Compressed.Parameters:N0} |\n\n");
        if (r.Passes.Count > 0)
        {
            s.Append("## Passes\n\n| pass | matched | rewritten | skipped | nodes | tensors | bytes | ms |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
            foreach (var p in r.Passes)
                s.Append(CultureInfo.InvariantCulture, $"| {p.Name} | {p.Matched} | {p.Rewritten} | {p.Skipped} | {p.NodesBefore} → {p.NodesAfter} | {p.InitializersBefore} → {p.InitializersAfter} | {p.BytesBefore:N0} → {p.BytesAfter:N0} | {p.Milliseconds:0.0} |\n");
            foreach (var p in r.Passes)
                foreach (var note in p.Notes) s.Append(CultureInfo.InvariantCulture, $"- {p.Name}: {note}\n");
            s.Append('\n');
        }
        var v = r.Verification;
        s.Append("## Verification\n\n");
        if (!v.Enabled) s.Append("Verification was turned off in the recipe.\n");
        else
        {
            s.Append(CultureInfo.InvariantCulture, $"{v.Samples} sample(s) of {v.Inputs}, ONNX Runtime optimization level {v.OptimizationLevel}, execution provider {v.ExecutionProvider}, {(v.Threads == 0 ? "threads chosen by ONNX Runtime" : $"{v.Threads} thread(s)")}.\n\n");
            s.Append("| output | cosine | max abs | mean abs | rel. error | SNR dB | top-1 |\n|---|---:|---:|---:|---:|---:|---:|\n");
            foreach (var o in v.Outputs)
                s.Append(CultureInfo.InvariantCulture, $"| {o.Output} | {o.Cosine:0.000000} | {o.MaxAbsError:G4} | {o.MeanAbsError:G4} | {o.RelativeError:G4} | {o.SnrDb:0.0} | {(o.Top1Agreement is { } t ? $"{100 * t:0.0}%" : "—")} |\n");
            foreach (var violation in v.BudgetViolations) s.Append(CultureInfo.InvariantCulture, $"\n**Budget broken:** {violation}\n");
            if (v.FirstDivergence is { } d) s.Append(CultureInfo.InvariantCulture, $"\n**Where:** {d}\n");
            foreach (var warning in v.Warnings) s.Append(CultureInfo.InvariantCulture, $"\n**Note:** {warning}\n");
        }
        if (v.OriginalLatency is { } a && v.CompressedLatency is { } b)
            s.Append(CultureInfo.InvariantCulture, $"\nLatency (median / p90 of {a.Runs} runs): {a.MedianMs:0.00} / {a.P90Ms:0.00} ms → {b.MedianMs:0.00} / {b.P90Ms:0.00} ms\n");
        if (r.Layers.Count > 0)
        {
            s.Append("\n## Layers\n\n| initializer | type | bits | elements | bytes | sparsity |\n|---|---|---:|---:|---:|---:|\n");
            foreach (var l in r.Layers)
                s.Append(CultureInfo.InvariantCulture, $"| {l.Name} | {l.TypeBefore} → {l.TypeAfter} | {l.BitsBefore} → {l.BitsAfter} | {l.Elements} | {l.BytesBefore} → {l.BytesAfter} | {(l.Sparsity is { } z ? $"{100 * z:0.0}%" : "—")} |\n");
        }
        if (r.Tuning is { } tuning) AppendTuningMarkdown(s, tuning);
        return s.ToString();
    }

    public static string ToHtml(CompressionReport r)
    {
        var s = new StringBuilder();
        s.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/><title>")
         .Append(WebUtility.HtmlEncode(Path.GetFileName(r.Model))).Append(" — CompressTasks report</title>\n")
         .Append("<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}svg text{font:12px system-ui,sans-serif}</style>\n</head><body>\n");
        s.Append("<h1>").Append(WebUtility.HtmlEncode(Path.GetFileName(r.Model))).Append("</h1>\n<p id=\"summary\">").Append(WebUtility.HtmlEncode(r.SummaryLine())).Append("</p>\n");
        s.Append("<h2>Size by element type</h2>\n");
        var types = r.Original.BytesByType.Keys.Union(r.Compressed.BytesByType.Keys).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var bars = new List<(string, double, double)>();
        foreach (var t in types) bars.Add((t, r.Original.BytesByType.GetValueOrDefault(t), r.Compressed.BytesByType.GetValueOrDefault(t)));
        s.Append(PairedBarChart("size-chart", bars, v => CompressionReport.Megabytes((long)v)));
        if (r.Passes.Count > 0)
        {
            s.Append("<h2>Passes</h2>\n<table><tr><th>pass</th><th>matched</th><th>rewritten</th><th>skipped</th><th>nodes</th><th>tensors</th><th>bytes</th></tr>\n");
            foreach (var p in r.Passes)
                s.Append(CultureInfo.InvariantCulture, $"<tr><td>{WebUtility.HtmlEncode(p.Name)}</td><td>{p.Matched}</td><td>{p.Rewritten}</td><td>{p.Skipped}</td><td>{p.NodesBefore} → {p.NodesAfter}</td><td>{p.InitializersBefore} → {p.InitializersAfter}</td><td>{p.BytesBefore:N0} → {p.BytesAfter:N0}</td></tr>\n");
            s.Append("</table>\n");
            s.Append("<h3>Nodes before and after each pass</h3>\n");
            s.Append(PairedBarChart("nodes-chart", r.Passes.Select(p => (p.Name, (double)p.NodesBefore, (double)p.NodesAfter)).ToList(), v => v.ToString("0", CultureInfo.InvariantCulture)));
        }
        if (r.Layers.Count > 0)
        {
            s.Append("<h2>Layers</h2>\n<table id=\"layers\"><tr><th>initializer</th><th>type</th><th>bits</th><th>elements</th><th>bytes</th><th>sparsity</th></tr>\n");
            foreach (var l in r.Layers)
                s.Append(CultureInfo.InvariantCulture, $"<tr><td>{WebUtility.HtmlEncode(l.Name)}</td><td>{l.TypeBefore} → {l.TypeAfter}</td><td>{l.BitsBefore} → {l.BitsAfter}</td><td>{l.Elements}</td><td>{l.BytesBefore} → {l.BytesAfter}</td><td>{(l.Sparsity is { } z ? $"{100 * z:0.0}%" : "—")}</td></tr>\n");
            s.Append("</table>\n");
            var top = r.Layers.OrderByDescending(l => l.BytesBefore).Take(30).Select(l => (l.Name, (double)l.BytesBefore, (double)l.BytesAfter)).ToList();
            s.Append(PairedBarChart("layers-chart", top, v => CompressionReport.Megabytes((long)v)));
            var shown = r.Layers.OrderByDescending(l => l.BytesBefore).Take(30).ToList();
            s.Append("<h3>Bits per weight, before and after</h3>\n");
            s.Append(PairedBarChart("bits-chart", shown.Select(l => (l.Name, (double)l.BitsBefore, (double)l.BitsAfter)).ToList(), v => v.ToString("0", CultureInfo.InvariantCulture)));
            if (shown.Any(l => l.Sparsity is > 0))
            {
                s.Append("<h3>Sparsity (fraction of zero weights)</h3>\n");
                s.Append(BarChart("sparsity-chart", shown.Select(l => (l.Name, l.Sparsity ?? 0, $"{l.Elements:N0} elements, {l.TypeBefore} → {l.TypeAfter}")).ToList(), v => v.ToString("P1", CultureInfo.InvariantCulture)));
            }
        }
        s.Append("<h2>Verification</h2>\n");
        if (r.Verification.Enabled)
        {
            var v = r.Verification;
            s.Append(CultureInfo.InvariantCulture, $"<p id=\"session-options\">{v.Samples} sample(s) of {WebUtility.HtmlEncode(v.Inputs)}, ONNX Runtime optimization level {WebUtility.HtmlEncode(v.OptimizationLevel)}, execution provider {WebUtility.HtmlEncode(v.ExecutionProvider)}, {(v.Threads == 0 ? "threads chosen by ONNX Runtime" : $"{v.Threads} thread(s)")}.</p>\n");
            s.Append("<table><tr><th>output</th><th>cosine</th><th>max abs</th><th>rel. error</th><th>SNR dB</th></tr>\n");
            foreach (var o in r.Verification.Outputs)
                s.Append(CultureInfo.InvariantCulture, $"<tr><td>{WebUtility.HtmlEncode(o.Output)}</td><td>{o.Cosine:0.000000}</td><td>{o.MaxAbsError:G4}</td><td>{o.RelativeError:G4}</td><td>{o.SnrDb:0.0}</td></tr>\n");
            s.Append("</table>\n");
            s.Append("<h3>Error per output (relative error, ‖student − teacher‖ / ‖teacher‖)</h3>\n");
            s.Append(BarChart("error-chart", v.Outputs.Select(o => (o.Output, o.RelativeError, $"cosine {o.Cosine:0.########}, max abs {o.MaxAbsError:G4}")).ToList(), x => x.ToString("G3", CultureInfo.InvariantCulture)));
            foreach (var violation in r.Verification.BudgetViolations)
                s.Append("<p><strong>Budget broken:</strong> ").Append(WebUtility.HtmlEncode(violation)).Append("</p>\n");
            if (r.Verification.FirstDivergence is { } d)
                s.Append("<p id=\"first-divergence\"><strong>Where:</strong> ").Append(WebUtility.HtmlEncode(d.ToString())).Append("</p>\n");
            foreach (var warning in r.Verification.Warnings)
                s.Append("<p class=\"note\"><strong>Note:</strong> ").Append(WebUtility.HtmlEncode(warning)).Append("</p>\n");
        }
        else s.Append("<p>Verification was turned off in the recipe.</p>\n");
        if (r.Verification.OriginalLatency is { } a && r.Verification.CompressedLatency is { } b)
        {
            s.Append(CultureInfo.InvariantCulture, $"<p id=\"latency\">Latency (median / p90 of {a.Runs} runs): {a.MedianMs:0.00} / {a.P90Ms:0.00} ms → {b.MedianMs:0.00} / {b.P90Ms:0.00} ms</p>\n");
            s.Append(PairedBarChart("latency-chart", [("median", a.MedianMs, b.MedianMs), ("p90", a.P90Ms, b.P90Ms)], x => x.ToString("0.00 ms", CultureInfo.InvariantCulture)));
        }
        if (r.Tuning is { } tuning) AppendTuningHtml(s, tuning);
        return s.Append("</body></html>\n").ToString();
    }

    // Horizontal bars, original (grey) above compressed (blue), one group per row; inline SVG, no script.
    private static string PairedBarChart(string id, IReadOnlyList<(string Label, double Before, double After)> rows, Func<double, string> format)
    {
        const int labelWidth = 170, barWidth = 420, rowHeight = 34;
        double max = Math.Max(1, rows.Count == 0 ? 1 : rows.Max(r => Math.Max(r.Before, r.After)));
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{labelWidth + barWidth + 200}\" height=\"{rows.Count * rowHeight + 10}\" role=\"img\">\n");
        for (int i = 0; i < rows.Count; i++)
        {
            var (label, before, after) = rows[i];
            int y = i * rowHeight + 5;
            double wb = barWidth * before / max, wa = barWidth * after / max;
            s.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + 18}\">{WebUtility.HtmlEncode(label)}</text>");
            s.Append(CultureInfo.InvariantCulture, $"<rect x=\"{labelWidth}\" y=\"{y}\" width=\"{wb:0.0}\" height=\"13\" fill=\"#9e9e9e\"><title>original {format(before)}</title></rect>");
            s.Append(CultureInfo.InvariantCulture, $"<rect x=\"{labelWidth}\" y=\"{y + 15}\" width=\"{wa:0.0}\" height=\"13\" fill=\"#1f77b4\"><title>compressed {format(after)}</title></rect>");
            s.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth + Math.Max(wb, wa) + 6:0.0}\" y=\"{y + 18}\">{WebUtility.HtmlEncode(format(before))} → {WebUtility.HtmlEncode(format(after))}</text>\n");
        }
        return s.Append("</svg>\n").ToString();
    }

    // One horizontal bar per row, scaled to the largest value; the title carries the detail.
    private static string BarChart(string id, IReadOnlyList<(string Label, double Value, string Detail)> rows, Func<double, string> format)
    {
        const int labelWidth = 170, barWidth = 420, rowHeight = 22;
        double max = rows.Count == 0 ? 1 : Math.Max(rows.Max(r => double.IsFinite(r.Value) ? r.Value : 0), 1e-30);
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{labelWidth + barWidth + 120}\" height=\"{rows.Count * rowHeight + 10}\" role=\"img\">\n");
        for (int i = 0; i < rows.Count; i++)
        {
            var (label, value, detail) = rows[i];
            int y = i * rowHeight + 5;
            double w = double.IsFinite(value) ? barWidth * value / max : barWidth;
            s.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + 12}\">{WebUtility.HtmlEncode(label)}</text>");
            s.Append(CultureInfo.InvariantCulture, $"<rect x=\"{labelWidth}\" y=\"{y}\" width=\"{Math.Max(w, 1):0.0}\" height=\"15\" fill=\"#d62728\"><title>{WebUtility.HtmlEncode(detail)}</title></rect>");
            s.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth + w + 6:0.0}\" y=\"{y + 12}\">{WebUtility.HtmlEncode(format(value))}</text>\n");
        }
        return s.Append("</svg>\n").ToString();
    }

    private static void WriteAtomically(string path, string text)
    {
        var temp = path + ".tmp";
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        File.Move(temp, path, overwrite: true);
    }
}
