using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using CompressTasks.Diagnostics;
using CompressTasks.Model;

namespace CompressTasks.Engine;

/// <summary>
/// The one pipeline the CLI and the MSBuild task call: load, transform, save atomically, report.
/// </summary>
/// <remarks>
/// The pipeline is an ordered list of <see cref="Step"/>s over a <see cref="PipelineContext"/>. Today it loads
/// the model (which validates it), writes it unchanged and reports honestly that no pass ran. The recipe loader,
/// the pass manager and verification plug in as further steps between <c>load</c> and <c>save</c>; the
/// report already carries their fields (<c>recipe</c>, <c>passes</c>, <c>verification</c>).
/// </remarks>
public static class Compressor
{
    /// <summary>One stage of the pipeline.</summary>
    internal sealed record Step(string Name, Action<PipelineContext> Run);

    /// <summary>State threaded through the steps of one request.</summary>
    internal sealed class PipelineContext(CompressionRequest request)
    {
        public CompressionRequest Request { get; } = request;
        public OnnxModel? Model { get; set; }
        public List<string> PassesRun { get; } = [];
        /// <summary>"not run" until a verification step sets a verdict.</summary>
        public string Verification { get; set; } = "not run";
    }

    /// <summary>The steps, in order. Recipe loading, passes and verification are inserted here.</summary>
    internal static readonly IReadOnlyList<Step> Steps =
    [
        new("load", c => c.Model = OnnxModel.Load(c.Request.ModelPath)),
        new("check-recipe", c =>
        {
            // Until the recipe loader lands, a named recipe must at least exist, so a typo fails the build.
            if (c.Request.RecipePath is { } recipe && !File.Exists(recipe))
                throw new CompressTasksException(DiagnosticCodes.RecipeMissing, "the recipe file does not exist", recipe);
        }),
        new("save", c => c.Model!.Save(c.Request.OutputPath)),
    ];

    /// <summary>
    /// Compresses one model. Failures are <see cref="CompressTasksException"/>s carrying a code and a file;
    /// the output is written atomically, so a failure never leaves a partial model at <see cref="CompressionRequest.OutputPath"/>.
    /// </summary>
    public static CompressionResult Run(CompressionRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var context = new PipelineContext(request);
        try
        {
            foreach (var step in Steps) step.Run(context);
        }
        finally
        {
            context.Model?.Dispose();
        }
        return Report(context);
    }

    private static CompressionResult Report(PipelineContext context)
    {
        var request = context.Request;
        var input = Describe(request.ModelPath);
        var output = Describe(request.OutputPath);
        Directory.CreateDirectory(request.ReportDirectory);
        string reportPath = Path.Combine(request.ReportDirectory, Path.GetFileName(request.OutputPath) + ".report.json");
        string temp = reportPath + ".tmp";
        using (var stream = File.Create(temp))
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("recipe", request.RecipePath is null ? null : Path.GetFullPath(request.RecipePath));
            WriteFile(json, "input", input);
            WriteFile(json, "output", output);
            json.WriteNumber("ratio", Ratio(input.Bytes, output.Bytes));
            json.WriteStartArray("passes");
            foreach (var pass in context.PassesRun) json.WriteStringValue(pass);
            json.WriteEndArray();
            json.WriteString("verification", context.Verification);
            json.WriteEndObject();
        }
        File.Move(temp, reportPath, overwrite: true);

        string summary = string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(request.ModelPath)}: {FormatSize(input.Bytes)} → {FormatSize(output.Bytes)} ({Ratio(input.Bytes, output.Bytes):0.00}×); report: {reportPath}");
        return new CompressionResult(request.OutputPath, reportPath, input.Bytes, output.Bytes, context.PassesRun.ToArray(), summary);
    }

    private sealed record FileFacts(string Path, long Bytes, string Sha256, int Nodes);

    private static FileFacts Describe(string path)
    {
        byte[] hash;
        long length;
        using (var stream = File.OpenRead(path))
        {
            length = stream.Length;
            hash = SHA256.HashData(stream);
        }
        using var model = OnnxModel.Load(path);
        return new FileFacts(System.IO.Path.GetFullPath(path), length, Convert.ToHexStringLower(hash), model.Proto.Graph.Node.Count);
    }

    private static void WriteFile(Utf8JsonWriter json, string name, FileFacts facts)
    {
        json.WriteStartObject(name);
        json.WriteString("path", facts.Path);
        json.WriteNumber("bytes", facts.Bytes);
        json.WriteString("sha256", facts.Sha256);
        json.WriteNumber("nodes", facts.Nodes);
        json.WriteEndObject();
    }

    /// <summary>Compression ratio, original ÷ compressed (1.00 when nothing changed).</summary>
    private static double Ratio(long input, long output) => output == 0 ? 0 : Math.Round((double)input / output, 4);

    private static string FormatSize(long bytes) => bytes switch
    {
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e6:0.0} MB"),
        >= 1_000 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1e3:0.0} kB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
    };
}
