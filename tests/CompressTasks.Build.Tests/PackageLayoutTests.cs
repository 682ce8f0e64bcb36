using System.IO.Compression;

namespace CompressTasks.Build.Tests;

/// <summary>
/// What the packed CompressTasks package holds (the same pack the end-to-end tests build against): the build logic,
/// the task, the tool with ONNX Runtime's native library for linux-x64, win-x64 and osx-arm64, and no mobile payloads.
/// </summary>
[TestClass]
public sealed class PackageLayoutTests
{
    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public void Package_HoldsBuildLogicTaskToolAndTheThreeNativeRuntimes_AndNoMobilePayloads()
    {
        using var zip = ZipFile.OpenRead(PackageFixture.PackageFile);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);

        foreach (var required in new[]
        {
            "build/CompressTasks.props", "build/CompressTasks.targets", "build/README.md",
            "buildTransitive/CompressTasks.props", "buildTransitive/CompressTasks.targets",
            "tasks/netstandard2.0/CompressTasks.Build.dll",
            "tools/net10.0/compress.dll", "tools/net10.0/compress.deps.json", "tools/net10.0/compress.runtimeconfig.json",
            "tools/net10.0/runtimes/linux-x64/native/libonnxruntime.so",
            "tools/net10.0/runtimes/win-x64/native/onnxruntime.dll",
            "tools/net10.0/runtimes/osx-arm64/native/libonnxruntime.dylib",
        })
        {
            Assert.Contains(required, entries, "missing " + required);
        }
        // The task ships alone: anything beside it would load into MSBuild's process.
        CollectionAssert.AreEqual(new[] { "tasks/netstandard2.0/CompressTasks.Build.dll" },
            entries.Where(e => e.StartsWith("tasks/", StringComparison.Ordinal)).ToArray());
        var rids = entries.Where(e => e.StartsWith("tools/net10.0/runtimes/", StringComparison.Ordinal))
            .Select(e => e.Split('/')[3]).Distinct().Order(StringComparer.Ordinal).ToArray();
        CollectionAssert.AreEqual(new[] { "linux-x64", "osx-arm64", "win-x64" }, rids);

        var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var reader = new StreamReader(nuspec.Open());
        StringAssert.Contains(reader.ReadToEnd(), "<developmentDependency>true</developmentDependency>");
    }
}
