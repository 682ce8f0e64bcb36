using System.Globalization;
using System.Net;
using System.Text;

namespace CompressTasks.Verification;

/// <summary>The tuning sections: the layer × treatment sensitivity table (a heat-map in HTML) and the size/cosine curve.</summary>
public static partial class ReportWriter
{
    private static void AppendTuningMarkdown(StringBuilder s, TuningSummary t)
    {
        var table = t.Table;
        s.Append(CultureInfo.InvariantCulture, $"\n## Tuning\n\nObjective {t.Objective}, min-cosine {t.MinCosine}; {table.Samples} tuning sample(s){(t.FromCache ? "; restored from the cache" : "")}. Each cell: one layer with one treatment alone, cosine against the original / bytes saved. **Bold**: chosen.\n\n");
        s.Append("| layer | ").Append(string.Join(" | ", table.Treatments)).Append(" |\n|---|").Append(string.Concat(table.Treatments.Select(_ => "---:|"))).Append('\n');
        foreach (var layer in table.Layers)
        {
            s.Append("| ").Append(layer);
            for (int i = 0; i < table.Treatments.Count; i++)
            {
                var cell = table.Find(layer, i);
                string text = cell is null ? "—" : string.Create(CultureInfo.InvariantCulture, $"{cell.Cosine:0.######} / {cell.BytesSaved:N0}");
                s.Append(" | ").Append(t.Assignment.GetValueOrDefault(layer, -1) == i ? $"**{text}**" : text);
            }
            s.Append(" |\n");
        }
        s.Append("\n| step | bytes | cosine | within budget |\n|---|---:|---:|---|\n");
        foreach (var p in t.Visited)
            s.Append(CultureInfo.InvariantCulture, $"| {(p.Chosen ? "**chosen**" : p.Step)} | {p.Bytes:N0} | {p.Cosine:0.######} | {(p.MeetsBudget ? "yes" : "no")} |\n");
        foreach (var note in t.Notes) s.Append("- ").Append(note).Append('\n');
    }

    private static void AppendTuningHtml(StringBuilder s, TuningSummary t)
    {
        s.Append("<h2>Tuning</h2>\n");
        s.Append(CultureInfo.InvariantCulture, $"<p id=\"tuning\">Objective {WebUtility.HtmlEncode(t.Objective)}, min-cosine {t.MinCosine}; {t.Table.Samples} tuning sample(s){(t.FromCache ? "; restored from the cache" : "")}. Each cell: one layer with one treatment alone; colour: drift (1 − cosine), green small, red large; outlined: chosen.</p>\n");
        s.Append(SensitivityHeatMap(t));
        s.Append("<h3>Size against cosine of the combinations visited</h3>\n");
        s.Append(ParetoChart(t));
        if (t.Notes.Count > 0)
            s.Append("<ul>").Append(string.Concat(t.Notes.Select(n => $"<li>{WebUtility.HtmlEncode(n)}</li>"))).Append("</ul>\n");
    }

    // One row per layer, one column per treatment; drift on a log scale from 1e-7 (green) to 1e-1 (red).
    private static string SensitivityHeatMap(TuningSummary t)
    {
        const int labelWidth = 200, cellWidth = 150, cellHeight = 24, header = 40;
        var table = t.Table;
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"<svg id=\"sensitivity-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{labelWidth + cellWidth * table.Treatments.Count + 10}\" height=\"{header + cellHeight * table.Layers.Count + 10}\" role=\"img\">\n");
        for (int c = 0; c < table.Treatments.Count; c++)
            s.Append(CultureInfo.InvariantCulture, $"<text x=\"{labelWidth + c * cellWidth + 4}\" y=\"{header - 10}\">{WebUtility.HtmlEncode(Shorten(table.Treatments[c], 22))}<title>{WebUtility.HtmlEncode(table.Treatments[c])}</title></text>\n");
        for (int r = 0; r < table.Layers.Count; r++)
        {
            string layer = table.Layers[r];
            int y = header + r * cellHeight;
            s.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{y + 16}\">{WebUtility.HtmlEncode(Shorten(layer, 28))}<title>{WebUtility.HtmlEncode(layer)}</title></text>");
            for (int c = 0; c < table.Treatments.Count; c++)
            {
                int x = labelWidth + c * cellWidth;
                if (table.Find(layer, c) is not { } cell)
                {
                    s.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y}\" width=\"{cellWidth - 2}\" height=\"{cellHeight - 2}\" fill=\"#eeeeee\"/>");
                    continue;
                }
                double level = Math.Clamp((Math.Log10(Math.Max(cell.Drift, 1e-7)) + 7) / 6, 0, 1);
                bool chosen = t.Assignment.GetValueOrDefault(layer, -1) == c;
                s.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y}\" width=\"{cellWidth - 2}\" height=\"{cellHeight - 2}\" fill=\"hsl({120 * (1 - level):0},70%,60%)\"{(chosen ? " stroke=\"#000\" stroke-width=\"2\"" : "")}><title>{WebUtility.HtmlEncode(layer)} with {WebUtility.HtmlEncode(table.Treatments[c])}: cosine {cell.Cosine:0.########}, {cell.BytesSaved:N0} bytes saved</title></rect>");
                s.Append(CultureInfo.InvariantCulture, $"<text x=\"{x + 4}\" y=\"{y + 16}\">{cell.Cosine:0.#####}</text>");
            }
            s.Append('\n');
        }
        return s.Append("</svg>\n").ToString();
    }

    // Model bytes (x) against cosine (y) for every combination measured; the budget as a dashed line, the choice ringed.
    private static string ParetoChart(TuningSummary t)
    {
        const int width = 560, height = 300, left = 70, bottom = 40, top = 10, right = 20;
        var points = t.Visited;
        double minX = points.Min(p => p.Bytes), maxX = points.Max(p => p.Bytes);
        double minY = Math.Min(t.MinCosine, points.Min(p => p.Cosine)), maxY = 1;
        double spanX = Math.Max(maxX - minX, 1), spanY = Math.Max(maxY - minY, 1e-9);
        double X(double v) => left + (width - left - right) * (v - minX) / spanX;
        double Y(double v) => top + (height - top - bottom) * (maxY - v) / spanY;
        var s = new StringBuilder();
        s.Append(CultureInfo.InvariantCulture, $"<svg id=\"pareto-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" role=\"img\">\n");
        s.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{height - bottom}\" x2=\"{width - right}\" y2=\"{height - bottom}\" stroke=\"#444\"/><line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{height - bottom}\" stroke=\"#444\"/>\n");
        s.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"{height - 8}\">{CompressionReport.Megabytes((long)minX)}</text><text x=\"{width - right - 70}\" y=\"{height - 8}\">{CompressionReport.Megabytes((long)maxX)}</text>\n");
        s.Append(CultureInfo.InvariantCulture, $"<text x=\"0\" y=\"{top + 12}\">{maxY:0.####}</text><text x=\"0\" y=\"{height - bottom}\">{minY:0.####}</text>\n");
        s.Append(CultureInfo.InvariantCulture, $"<line x1=\"{left}\" y1=\"{Y(t.MinCosine):0.0}\" x2=\"{width - right}\" y2=\"{Y(t.MinCosine):0.0}\" stroke=\"#d62728\" stroke-dasharray=\"4 3\"><title>budget: min-cosine {t.MinCosine}</title></line>\n");
        foreach (var p in points)
        {
            string fill = p.MeetsBudget ? "#1f77b4" : "#d62728";
            s.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{X(p.Bytes):0.0}\" cy=\"{Y(p.Cosine):0.0}\" r=\"{(p.Chosen ? 7 : 4)}\" fill=\"{(p.Chosen ? "none" : fill)}\" stroke=\"{(p.Chosen ? "#000" : fill)}\" stroke-width=\"2\"><title>{WebUtility.HtmlEncode(p.Step)}: {p.Bytes:N0} bytes, cosine {p.Cosine:0.########}</title></circle>\n");
        }
        return s.Append("</svg>\n").ToString();
    }

    private static string Shorten(string text, int length) => text.Length <= length ? text : text[..(length - 1)] + "…";
}
