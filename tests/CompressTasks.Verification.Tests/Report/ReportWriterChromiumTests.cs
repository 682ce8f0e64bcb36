using System.Diagnostics;
using System.Text.RegularExpressions;

namespace CompressTasks.Verification.Tests;

/// <summary>
/// The HTML report as a browser sees it: headless Chromium parses the page and dumps its DOM. A chart that the HTML
/// parser moved or dropped (a stray tag, bad escaping) shows up as missing elements in the dump.
/// </summary>
[TestClass]
public sealed class ReportWriterChromiumTests
{
    private const string Chromium = "/usr/bin/chromium";

    private string _dir = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-chromium-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    private static CompressionReport Report()
    {
        var original = new ModelStatistics(8_400, 3, 2, 2_080, new Dictionary<string, long> { ["float"] = 8_320 }, new Dictionary<string, int> { ["MatMul"] = 1 });
        var compressed = new ModelStatistics(4_300, 1, 2, 2_080, new Dictionary<string, long> { ["float16"] = 4_160 }, new Dictionary<string, int> { ["Gemm"] = 1 });
        // Labels with markup characters: escaping mistakes would surface as parse problems.
        var passes = new List<PassSummary>
        {
            new("fuse-matmul-add", 1, 1, 0, [], 3, 2, 8_400, 8_400, 1.5),
            new("a<b & 'c'", 1, 1, 0, ["note with <angle> & \"quotes\""], 2, 1, 8_400, 4_300, 2.5),
        };
        var verification = new VerificationSummary(true, "generated inputs", 4, "All",
            [new OutputMetrics("z", 1e-3, 1e-4, 1e-3, 0.99999, 60, null, null)], ["output 'z' <budget>"], [],
            new LatencyStats(1.2, 1.5, 20), new LatencyStats(2.4, 2.9, 20))
        {
            FirstDivergence = new LayerDivergence("mm<1>", "MatMul", "y", 0.98, 0.1),
        };
        return new CompressionReport("CompressTasks", "1.0", "/m/model.onnx", "/o/model.onnx", null, original, compressed, passes, verification)
        {
            Layers =
            [
                new LayerChange("fc<1>/W & 'b'", "float", "float16", 32, 16, 1_024, 4_096, 2_048, 0.25),
                new LayerChange("fc2/W", "float", "int8", 32, 8, 1_056, 4_224, 1_056, null),
            ],
            Tuning = new TuningSummary("size", 0.999,
                new SensitivityTable(["quantize <int8>", "prune & 'half'"], ["fc<1>/W", "fc2/W"],
                    [new("fc<1>/W", 0, 3_000, 0.99999), new("fc<1>/W", 1, 2_000, 0.98), new("fc2/W", 0, 3_100, 0.9999)], 8_400, 4),
                new Dictionary<string, int> { ["fc<1>/W"] = 0, ["fc2/W"] = -1 },
                [new("base", 8_400, 1, true), new("fc<1>/W → quantize <int8>", 5_400, 0.99999, true), new("fc2/W → quantize <int8>", 2_300, 0.998, false), new("chosen", 5_400, 0.99999, true, Chosen: true)],
                ["fc2/W kept as is: <reason>"], FromCache: false),
        };
    }

    [TestMethod]
    [DataRow("size-chart")]
    [DataRow("nodes-chart")]
    [DataRow("layers-chart")]
    [DataRow("bits-chart")]
    [DataRow("sparsity-chart")]
    [DataRow("error-chart")]
    [DataRow("latency-chart")]
    [DataRow("sensitivity-chart")]
    [DataRow("pareto-chart")]
    public void WhenChromiumParsesTheReport_ChartKeepsEveryElement(string id)
    {
        var html = ReportWriter.ToHtml(Report());
        var dom = DumpDom(html, "report.html");

        var written = Chart(html, id);
        var parsed = Chart(dom, id);
        Assert.IsNotNull(written, $"the report has no {id}");
        Assert.IsNotNull(parsed, $"{id} did not survive parsing:\n{dom}");
        foreach (var tag in new[] { "<rect", "<text", "<title>", "<circle", "<line" })
            Assert.AreEqual(Count(written, tag), Count(parsed, tag), $"{tag} in {id}");
        StringAssert.Contains(dom, "<p id=\"first-divergence\">", "content after the charts is still in the body");
    }

    [TestMethod]
    public void WhenChromiumParsesTheReportAsXml_ThereIsNoParserError()
    {
        // The HTML parser forgives almost anything, so well-formedness is checked with Chromium's XML parser, which
        // puts a <parsererror> into the page instead of the content at the first problem.
        var dom = DumpDom(ReportWriter.ToHtml(Report()), "report.xhtml");

        Assert.IsFalse(dom.Contains("parsererror", StringComparison.Ordinal), dom);
        StringAssert.Contains(dom, "id=\"nodes-chart\"");
        StringAssert.Contains(dom, "id=\"layers-chart\"");
        StringAssert.Contains(dom, "id=\"pareto-chart\"");
    }

    private string DumpDom(string page, string name)
    {
        Assert.IsTrue(File.Exists(Chromium), $"{Chromium} is missing: install it with `apt-get install chromium` (the report rendering tests need it).");
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, page);
        var start = new ProcessStartInfo(Chromium)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", $"--user-data-dir={Path.Combine(_dir, "profile")}", "--dump-dom", new Uri(path).AbsoluteUri,
            },
        };
        using var chromium = Process.Start(start)!;
        // Chromium logs D-Bus noise on stderr in containers; it is drained so the pipe never blocks, and ignored.
        var error = chromium.StandardError.ReadToEndAsync();
        var dom = chromium.StandardOutput.ReadToEndAsync();
        if (!chromium.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            chromium.Kill(entireProcessTree: true);
            Assert.Fail("chromium did not finish in 60 s");
        }
        Assert.AreEqual(0, chromium.ExitCode, error.Result);
        return dom.Result;
    }

    private static string? Chart(string page, string id)
    {
        var match = Regex.Match(page, $"<svg id=\"{id}\"[^>]*>.*?</svg>", RegexOptions.Singleline);
        return match.Success ? match.Value : null;
    }

    private static int Count(string text, string tag) => Regex.Matches(text, Regex.Escape(tag)).Count;
}
