using System.Security.Cryptography;
using System.Text;
using CompressTasks.Model;

namespace CompressTasks.Engine;

/// <summary>
/// Results of earlier runs, keyed by a SHA-256 over everything that decides the output: the tool version, the
/// model and its external data files, the recipe and every recipe it extends, the data files the recipe names,
/// the output file name and the verify switch. A hit copies the stored model and report into place (atomically),
/// so an unchanged model is never recompressed, even after a clean build, when the folder persists.
/// </summary>
internal sealed class ResultCache(string directory)
{
    private const string ReportMarker = "; report: ";

    public string Key(CompressionRequest request, Recipe.Recipe? recipe, string toolVersion)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Text(string s) { hash.AppendData(Encoding.UTF8.GetBytes(s)); hash.AppendData([0]); }
        Text(toolVersion);
        Text(Path.GetFileName(request.OutputPath));
        Text(request.Verify?.ToString() ?? "recipe");
        Text(request.Latency?.ToString() ?? "recipe");
        AppendFile(hash, request.ModelPath);
        using (var model = OnnxModel.Load(request.ModelPath))
        {
            var locations = new SortedSet<string>(StringComparer.Ordinal);
            TensorVisitor.ForEachTensor(model.Proto, t => { if (TensorData.IsExternal(t)) locations.Add(ExternalDataStore.Describe(t).Location); });
            var dir = Path.GetDirectoryName(Path.GetFullPath(request.ModelPath))!;
            foreach (var location in locations) { Text(location); AppendFile(hash, Path.Combine(dir, location)); }
        }
        if (request.RecipePath is not null) AppendFile(hash, request.RecipePath);
        foreach (var name in recipe?.ExtendsChain ?? []) Text(name);
        // The extended files by full path: the names as written are relative to the recipe that wrote them.
        foreach (var file in recipe?.BaseFiles ?? []) { Text(file); AppendFile(hash, file); }
        foreach (var data in recipe?.DataPaths() ?? [])
        {
            Text(data.Written);
            foreach (var f in data.Files()) { Text(Path.GetFileName(f)); AppendFile(hash, f); }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public CompressionResult? TryRestore(string key, CompressionRequest request)
    {
        var entry = Path.Combine(directory, key);
        var name = Path.GetFileName(request.OutputPath);
        if (!File.Exists(Path.Combine(entry, "summary.txt"))) return null;
        var outputDir = Path.GetDirectoryName(Path.GetFullPath(request.OutputPath))!;
        Directory.CreateDirectory(outputDir);
        Directory.CreateDirectory(request.ReportDirectory);
        var data = Path.Combine(entry, name + ".data");
        if (File.Exists(data)) CopyAtomically(data, Path.Combine(outputDir, name + ".data"));
        CopyAtomically(Path.Combine(entry, name), request.OutputPath);
        foreach (var ext in new[] { ".report.json", ".report.md", ".report.html" })
            CopyAtomically(Path.Combine(entry, name + ext), Path.Combine(request.ReportDirectory, name + ext));
        if (File.Exists(Path.Combine(entry, name + Compressor.TunedRecipeSuffix)))
            CopyAtomically(Path.Combine(entry, name + Compressor.TunedRecipeSuffix), Path.Combine(request.ReportDirectory, name + Compressor.TunedRecipeSuffix));
        var reportPath = Path.Combine(request.ReportDirectory, name + ".report.json");
        var summary = File.ReadAllText(Path.Combine(entry, "summary.txt"));
        var warnings = File.ReadAllLines(Path.Combine(entry, "warnings.txt"));
        return new CompressionResult(request.OutputPath, reportPath, new FileInfo(request.ModelPath).Length, new FileInfo(request.OutputPath).Length,
            File.ReadAllLines(Path.Combine(entry, "passes.txt")), $"{summary} (cached){ReportMarker}{reportPath}")
        {
            Warnings = warnings,
            FromCache = true,
        };
    }

    public void Store(string key, CompressionRequest request, CompressionResult result)
    {
        var entry = Path.Combine(directory, key);
        if (Directory.Exists(entry)) return;
        var name = Path.GetFileName(request.OutputPath);
        var temp = Path.Combine(directory, $".{key}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            File.Copy(request.OutputPath, Path.Combine(temp, name));
            if (File.Exists(request.OutputPath + ".data")) File.Copy(request.OutputPath + ".data", Path.Combine(temp, name + ".data"));
            foreach (var ext in new[] { ".report.json", ".report.md", ".report.html" })
                File.Copy(Path.Combine(request.ReportDirectory, name + ext), Path.Combine(temp, name + ext));
            if (File.Exists(Path.Combine(request.ReportDirectory, name + Compressor.TunedRecipeSuffix)))
                File.Copy(Path.Combine(request.ReportDirectory, name + Compressor.TunedRecipeSuffix), Path.Combine(temp, name + Compressor.TunedRecipeSuffix));
            int at = result.Summary.LastIndexOf(ReportMarker, StringComparison.Ordinal);
            File.WriteAllText(Path.Combine(temp, "summary.txt"), at < 0 ? result.Summary : result.Summary[..at]);
            File.WriteAllLines(Path.Combine(temp, "warnings.txt"), result.Warnings);
            File.WriteAllLines(Path.Combine(temp, "passes.txt"), result.PassesRun);
            // The entry appears whole or not at all; a concurrent writer of the same key simply loses the race.
            Directory.Move(temp, entry);
        }
        catch (IOException)
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
        }
    }

    private static void AppendFile(IncrementalHash hash, string path)
    {
        using var stream = File.OpenRead(path);
        var buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer)) > 0) hash.AppendData(buffer.AsSpan(0, n));
        hash.AppendData([0]);
    }

    private static void CopyAtomically(string source, string destination)
    {
        var temp = destination + $".{Guid.NewGuid():N}.tmp";
        File.Copy(source, temp);
        File.Move(temp, destination, overwrite: true);
    }
}
