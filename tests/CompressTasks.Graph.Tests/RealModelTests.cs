using System.Reflection;
using CompressTasks.Model;

namespace CompressTasks.Graphs.Tests;

/// <summary>Opens real models: the shared model farm, the NuGet-restored ResNet-18 and Debian's ONNX backend corpus.</summary>
[TestClass]
public sealed class RealModelTests
{
    private const string BackendCorpus = "/usr/share/libonnx-testdata/data";

    public TestContext TestContext { get; set; } = null!;

    private static string Metadata(string key) =>
        typeof(RealModelTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value ?? "";

    /// <summary>The shared farm: <c>../shared/models</c> beside the repository. CI always has it, so its absence fails.</summary>
    public static IEnumerable<object[]> SharedModels()
    {
        var folder = Path.GetFullPath(Path.Combine(Metadata("RepoRoot"), "..", "shared", "models"));
        if (!Directory.Exists(folder)) return [[$"MISSING: the shared model folder {folder} is absent"]];
        return Directory.EnumerateFiles(folder, "*.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal).Select(f => new object[] { f });
    }

    [TestMethod]
    [DynamicData(nameof(SharedModels))]
    public void ASharedModel_OpensValidatesAndSavesUnchanged(string path)
    {
        if (path.StartsWith("MISSING:", StringComparison.Ordinal)) Assert.Fail(path);
        OpenValidateAndRoundTrip(path);
    }

    [TestMethod]
    public void TheNuGetResNet18_OpensValidatesAndSavesUnchanged()
    {
        var path = Path.Combine(Metadata("ResNet18Package"), "tools", "DnnImageModels", "ResNet18Onnx", "ResNet18.onnx");
        Assert.IsTrue(File.Exists(path), $"ResNet-18 not restored at {path}");
        var g = OpenValidateAndRoundTrip(path);
        Assert.AreEqual(8L, g.GetOpsetVersion(""));
        // IR 3 lists every initializer as an input too; before IR 4 they are still constants.
        var conv = g.Nodes.First(n => n.Is("Conv"));
        Assert.IsNotNull(g.TryGetConstant(conv.Inputs[1]));
    }

    [TestMethod]
    public void SileroVad_WeightsInsideIfBranchesResolveOuterValues()
    {
        var folder = Path.GetFullPath(Path.Combine(Metadata("RepoRoot"), "..", "shared", "models", "silero-vad-legacy"));
        Assert.IsTrue(Directory.Exists(folder), $"the shared model folder {folder} is absent");
        using var model = OnnxModel.Load(Path.Combine(folder, "silero_vad_legacy.onnx"));
        var g = Graph.Open(model);
        var subgraphs = g.SelfAndDescendants().Where(s => s.Parent is not null).ToList();
        Assert.IsNotEmpty(subgraphs);
        int outerReads = 0, constants = 0;
        foreach (var s in subgraphs)
            foreach (var n in s.Nodes)
                foreach (var input in n.Inputs)
                {
                    if (input.Length == 0) continue;
                    var v = s.GetValue(input);
                    Assert.IsNotNull(v.DefiningGraph, $"{input} in {s.Path} does not resolve");
                    if (v.IsOuterScope) outerReads++;
                    if (v.Constant is not null) constants++;
                }
        Assert.IsGreaterThan(0, outerReads);
        Assert.IsGreaterThan(0, constants);
        foreach (var input in g.Inputs)
            Assert.IsGreaterThan(0, g.UseCount(input.Name), $"graph input {input.Name} is read somewhere");
    }

    [TestMethod]
    public void TheOnnxBackendCorpus_ValidatesClean()
    {
        Assert.IsTrue(Directory.Exists(BackendCorpus), $"the Debian libonnx-testdata corpus is not installed at {BackendCorpus}");
        int opened = 0, withSubgraphs = 0, cleaned = 0;
        var failures = new List<string>();
        foreach (var path in Directory.EnumerateFiles(BackendCorpus, "model.onnx", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            using var model = OnnxModel.Load(path);
            var g = Graph.Open(model);
            // Through the IR and back: the bytes ORT then runs (Model.Tests checks them against the suite's outputs).
            if (!File.ReadAllBytes(path).AsSpan().SequenceEqual(Google.Protobuf.MessageExtensions.ToByteArray(model.Proto)))
                failures.Add($"{path}: re-serialized through the graph view, the bytes differ");
            var problems = GraphValidator.Validate(g);
            opened++;
            if (g.Subgraphs.Any()) withSubgraphs++;
            if (problems.Count > 0) failures.Add($"{path}: {string.Join("; ", problems)}");
            // Dead-code removal must leave every model valid, whatever it removes.
            int removed = g.Cleanup().Nodes;
            if (removed > 0) TestContext.WriteLine($"cleanup removed {removed} nodes from {path}");
            cleaned += removed;
            problems = GraphValidator.Validate(g);
            if (problems.Count > 0) failures.Add($"{path} after cleanup: {string.Join("; ", problems)}");
        }
        TestContext.WriteLine($"opened and validated {opened} backend-test models ({withSubgraphs} with subgraphs), {failures.Count} problems; cleanup removed {cleaned} nodes");
        Assert.IsGreaterThan(10, withSubgraphs);
        Assert.IsGreaterThan(1000, opened);
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    private static Graph OpenValidateAndRoundTrip(string path)
    {
        using var model = OnnxModel.Load(path);
        var g = Graph.Open(model);
        var problems = GraphValidator.Validate(g);
        Assert.IsEmpty(problems, string.Join("\n", problems));
        Assert.IsTrue(g.TryGetTopologicalOrder(out _, out _));
        var copy = Path.Combine(Path.GetTempPath(), $"ct-graph-{Guid.NewGuid():N}.onnx");
        try
        {
            model.Save(copy);
            Assert.IsTrue(File.ReadAllBytes(path).AsSpan().SequenceEqual(File.ReadAllBytes(copy)), $"{path} changed on a no-op save");
        }
        finally
        {
            File.Delete(copy);
        }
        return g;
    }
}
