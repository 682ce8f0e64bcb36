using System.IO.Compression;

namespace CompressTasks.Build.Tests;

/// <summary>
/// The CLI packed as a .NET tool (CompressTasks.Tool): it installs from a feed with `dotnet tool install`, runs a
/// recipe through ONNX Runtime from the installed copy, and carries no mobile ONNX Runtime payloads.
/// </summary>
[TestClass]
public sealed class DotnetToolTests
{
    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void WhenPackedAsATool_ItInstallsAndCompressesAModel()
    {
        string root = PackageFixture.Root;
        string feed = Path.Combine(root, "feed");
        var (code, output) = PackageFixture.Dotnet(PackageFixture.RepoRoot, "pack", "src/CompressTasks.Cli/CompressTasks.Cli.csproj",
            "-nologo", "-tl:off", "-v:m", "-nodeReuse:false", "-p:UseSharedCompilation=false", $"-p:PackageVersion={PackageFixture.Version}", "-o", feed);
        Assert.AreEqual(0, code, output);
        string package = Path.Combine(feed, $"CompressTasks.Tool.{PackageFixture.Version}.nupkg");
        using (var zip = ZipFile.OpenRead(package))
        {
            var rids = zip.Entries.Select(e => e.FullName.Split('/')).Where(p => p.Length > 4 && p[3] == "runtimes").Select(p => p[4]).ToHashSet();
            Assert.Contains("linux-x64", rids, string.Join(", ", rids));
            Assert.IsFalse(rids.Contains("android") || rids.Contains("ios"), "mobile payloads: " + string.Join(", ", rids));
        }

        string tools = Path.Combine(root, "tool");
        (code, output) = PackageFixture.Dotnet(root, "tool", "install", "CompressTasks.Tool", "--version", PackageFixture.Version, "--tool-path", tools);
        Assert.AreEqual(0, code, output);

        string work = Path.Combine(root, "tool-run");
        Directory.CreateDirectory(work);
        TinyModels.WriteMatMul(Path.Combine(work, "model.onnx"), deadWeight: true);
        File.WriteAllText(Path.Combine(work, "compression.yaml"), "extends: optimize\nverify:\n  min-cosine: 0.9999\n");
        string compress = Path.Combine(tools, OperatingSystem.IsWindows() ? "compress.exe" : "compress");
        var run = PackageFixture.Run(work, compress, "run", "model.onnx", "--recipe", "compression.yaml", "-o", "out/model.onnx");
        Assert.AreEqual(0, run.ExitCode, run.Output);
        Assert.IsTrue(File.Exists(Path.Combine(work, "out", "model.onnx")), run.Output);
        StringAssert.Contains(run.Output, "cos ", "the summary line comes from a verification run through ONNX Runtime");
    }
}
