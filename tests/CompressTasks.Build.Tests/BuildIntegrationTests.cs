using System.Security.Cryptography;

namespace CompressTasks.Build.Tests;

/// <summary>
/// Builds real projects against the packed CompressTasks package. Each test is several real `dotnet` runs, so there
/// are few of them and each checks a whole scenario.
/// </summary>
[TestClass]
public sealed class BuildIntegrationTests
{
    private const string CompressTarget = "_CompressTasks_CompressModels";

    // At the end of the run, not of this class: PackageLayoutTests reads the same packed feed.
    [AssemblyCleanup]
    public static void DeleteTemporaryFiles() => PackageFixture.Delete();

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void WhenModelHasRecipe_AndProjectIsBuiltPublishedCleaned_OutputsCarryCompressedModelOnly()
    {
        string project = PackageFixture.CreateConsumer("Consumer",
            """<None Update="models/**/*.onnx" CopyToOutputDirectory="PreserveNewest" CopyToPublishDirectory="PreserveNewest" />""");
        Directory.CreateDirectory(Path.Combine(project, "models"));
        TinyModels.WriteRelu(Path.Combine(project, "models", "relu.onnx"));
        File.WriteAllText(Path.Combine(project, "models", "compression.yaml"), TinyModels.Recipe);
        // The Debug build picks the configuration's recipe, which adds a pass to the shared one.
        File.WriteAllText(Path.Combine(project, "models", "compression.Debug.yaml"), "extends: ./compression.yaml\npasses:\n  - eliminate-dead\n");

        // 1. Build: the compressed model (the engine's output in obj) is what lands in bin, and nothing else. The
        //    recipe does not ask for latency; the property does (as a Release-only condition would).
        var (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", "-p:CompressTasksLatency=true"));
        Assert.AreEqual(0, code, log);
        string compressed = Path.Combine(project, "obj", "Debug", "net10.0", "compress", "models", "relu.onnx");
        string report = compressed + ".report.json";
        Assert.IsTrue(File.Exists(compressed), log);
        Assert.IsTrue(File.Exists(report), log);
        Assert.IsTrue(File.Exists(compressed + ".inputs"), "the tool lists the base recipe for the next build's Inputs\n" + log);
        StringAssert.Contains(File.ReadAllText(compressed + ".inputs"), Path.Combine(project, "models", "compression.yaml"));
        StringAssert.Contains(log, "relu.onnx: ");
        StringAssert.Contains(log, "\"cacheDir\":");
        StringAssert.Contains(log, "\"latency\":true");
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(report)))
        {
            Assert.AreEqual(System.Text.Json.JsonValueKind.Object, json.RootElement.GetProperty("verification").GetProperty("originalLatency").ValueKind, "timed at the property's request");
            CollectionAssert.AreEqual(new[] { "eliminate-identity", "eliminate-dead" },
                json.RootElement.GetProperty("passes").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToArray(), "compression.Debug.yaml was used");
        }
        StringAssert.Contains(log, "report: " + report);
        StringAssert.Contains(log, $"Copying file from \"{compressed}\"");
        Assert.DoesNotContain($"Copying file from \"{Path.Combine(project, "models", "relu.onnx")}\"", log);
        string bin = Path.Combine(project, "bin", "Debug", "net10.0");
        CollectionAssert.AreEqual(new[] { Path.Combine(bin, "models", "relu.onnx") },
            Directory.GetFiles(bin, "*.onnx", SearchOption.AllDirectories));
        Assert.AreEqual(Sha256(compressed), Sha256(Path.Combine(bin, "models", "relu.onnx")));

        // 2. No-op build: the compression target is skipped and the tool is not started.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", "--no-restore"));
        Assert.AreEqual(0, code, log);
        StringAssert.Contains(log, $"Skipping target \"{CompressTarget}\" because all output files are up-to-date");
        Assert.DoesNotContain("compress.dll\" run", log);
        Assert.IsTrue(File.Exists(compressed), "incremental clean must keep skipped outputs");

        // 3. Publish carries the compressed model.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("publish", "--no-restore", "-o", "out"));
        Assert.AreEqual(0, code, log);
        CollectionAssert.AreEqual(new[] { Path.Combine(project, "out", "models", "relu.onnx") },
            Directory.GetFiles(Path.Combine(project, "out"), "*.onnx", SearchOption.AllDirectories));
        Assert.AreEqual(Sha256(compressed), Sha256(Path.Combine(project, "out", "models", "relu.onnx")));

        // 4. Clean removes the compressed model and its report.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("clean"));
        Assert.AreEqual(0, code, log);
        Assert.IsFalse(File.Exists(compressed), log);
        Assert.IsFalse(File.Exists(report), log);
        Assert.IsFalse(File.Exists(compressed + ".inputs"), log);
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public void WhenModelIsCorrupt_Build_FailsWithCodeAndFile_AndLeavesNoOutput()
    {
        string project = PackageFixture.CreateConsumer("Corrupt",
            """<OnnxModel Include="broken.onnx" Recipe="broken.yaml" />""");
        File.WriteAllBytes(Path.Combine(project, "broken.onnx"), [0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
        File.WriteAllText(Path.Combine(project, "broken.yaml"), TinyModels.Recipe);

        var (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build"));

        Assert.AreNotEqual(0, code, log);
        StringAssert.Matches(log, new System.Text.RegularExpressions.Regex(
            System.Text.RegularExpressions.Regex.Escape(Path.Combine(project, "broken.onnx")) + @"(\(\d+,\d+\))? ?: error CT0102: "));
        string compressDir = Path.Combine(project, "obj", "Debug", "net10.0", "compress");
        Assert.IsEmpty(Directory.Exists(compressDir) ? Directory.GetFiles(compressDir, "*", SearchOption.AllDirectories) : [], log);
        Assert.IsFalse(Directory.Exists(Path.Combine(project, "bin", "Debug", "net10.0")) &&
            Directory.GetFiles(Path.Combine(project, "bin", "Debug", "net10.0"), "*.onnx").Length > 0, log);
    }

    [TestMethod]
    [Timeout(600_000, CooperativeCancellation = true)]
    public void WhenOneRecipeHasUnknownPass_AndAnotherBreaksItsBudget_Build_ReportsBothAtTheirRecipeLines()
    {
        // One build, two models in two folders: one model's failure must not hide the other's.
        string project = PackageFixture.CreateConsumer("BadRecipes",
            """<None Update="**/*.onnx" CopyToOutputDirectory="PreserveNewest" />""");
        string typo = Path.Combine(project, "typo");
        string budget = Path.Combine(project, "budget");
        Directory.CreateDirectory(typo);
        Directory.CreateDirectory(budget);
        TinyModels.WriteRelu(Path.Combine(typo, "relu.onnx"));
        File.WriteAllText(Path.Combine(typo, "compression.yaml"), "passes:\n  - fuse-conv-bm\n");
        TinyModels.WriteMatMul(Path.Combine(budget, "matmul.onnx"));
        File.WriteAllText(Path.Combine(budget, "compression.yaml"),
            "passes: [convert-weights-fp16]\nverify: { max-abs-error: 0.0000001 }\n");

        var (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build"));

        Assert.AreNotEqual(0, code, log);
        // The recipe loader's position of the pass name: line 2, column 5 (after "  - ").
        StringAssert.Contains(log, Path.Combine(typo, "compression.yaml") + "(2,5): error CT1006: ");
        StringAssert.Matches(log, new System.Text.RegularExpressions.Regex(
            @"error CT1006: [^\n]*Did you mean 'fuse-conv-bn'\?"));
        // The budget failure points at the recipe's verify: line.
        StringAssert.Contains(log, Path.Combine(budget, "compression.yaml") + "(2,1): error CT3003: ");
        string compressDir = Path.Combine(project, "obj", "Debug", "net10.0", "compress");
        // No compressed model (nor data file) is left; the failed model's report stays, to read the numbers.
        var leftovers = Directory.Exists(compressDir) ? Directory.GetFiles(compressDir, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".onnx", StringComparison.Ordinal) || f.EndsWith(".onnx.data", StringComparison.Ordinal)).ToArray() : [];
        Assert.IsEmpty(leftovers, string.Join("\n", leftovers) + "\n" + log);
        string bin = Path.Combine(project, "bin", "Debug", "net10.0");
        Assert.IsFalse(Directory.Exists(bin) && Directory.GetFiles(bin, "*.onnx", SearchOption.AllDirectories).Length > 0, log);
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void WhenModelHasExternalData_BuildAndPublish_CopyTheCompressedModelsDataFile_NotTheOriginals()
    {
        // A broad glob makes the original's .data file a copy item too: it must still not reach bin or publish.
        string project = PackageFixture.CreateConsumer("ExternalData",
            """<None Update="models/**" CopyToOutputDirectory="PreserveNewest" CopyToPublishDirectory="PreserveNewest" />""");
        string models = Path.Combine(project, "models");
        Directory.CreateDirectory(models);
        string original = Path.Combine(models, "ext.onnx");
        TinyModels.WriteMatMul(original, new CompressTasks.Model.SaveOptions { ExternalData = CompressTasks.Model.ExternalDataPolicy.All, SizeThreshold = 0 });
        Assert.IsTrue(File.Exists(original + ".data"), "the fixture model must have external data");
        File.WriteAllText(Path.Combine(models, "compression.yaml"), TinyModels.Recipe);

        var (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build"));
        Assert.AreEqual(0, code, log);
        string compressed = Path.Combine(project, "obj", "Debug", "net10.0", "compress", "models", "ext.onnx");
        Assert.IsTrue(File.Exists(compressed + ".data"), "the engine kept the tensors external\n" + log);
        Assert.DoesNotContain($"Copying file from \"{original}", log);
        string bin = Path.Combine(project, "bin", "Debug", "net10.0", "models");
        CollectionAssert.AreEquivalent(new[] { "ext.onnx", "ext.onnx.data" }, Directory.GetFiles(bin, "*.onnx*").Select(Path.GetFileName).ToArray(), log);
        Assert.AreEqual(Sha256(compressed), Sha256(Path.Combine(bin, "ext.onnx")));
        Assert.AreEqual(Sha256(compressed + ".data"), Sha256(Path.Combine(bin, "ext.onnx.data")));
        AssertWeightsReadable(Path.Combine(bin, "ext.onnx"), original);

        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("publish", "--no-restore", "-o", "out"));
        Assert.AreEqual(0, code, log);
        string outModels = Path.Combine(project, "out", "models");
        CollectionAssert.AreEquivalent(new[] { "ext.onnx", "ext.onnx.data" }, Directory.GetFiles(outModels, "*.onnx*").Select(Path.GetFileName).ToArray(), log);
        Assert.AreEqual(Sha256(compressed + ".data"), Sha256(Path.Combine(outModels, "ext.onnx.data")));
        Assert.IsTrue(File.Exists(compressed + ".data"), "incremental clean must keep the skipped model's data file");

        // Clean deletes the compressed model's data file with it.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("clean"));
        Assert.AreEqual(0, code, log);
        Assert.IsFalse(File.Exists(compressed + ".data"), log);
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void WhenTwoProjectsLinkTheSameModel_ParallelSolutionBuild_GivesEachItsCompressedModel()
    {
        // One model outside both projects, linked into each; a solution built with -m compresses it twice in parallel.
        string shared = Path.Combine(PackageFixture.Root, "LinkedModels");
        Directory.CreateDirectory(shared);
        string model = Path.Combine(shared, "net.onnx");
        TinyModels.WriteMatMul(model);
        string recipe = Path.Combine(shared, "net.compression.yaml");
        File.WriteAllText(recipe, TinyModels.Recipe);
        string items = $"""
            <None Include="{model}" Link="models/net.onnx" CopyToOutputDirectory="PreserveNewest" />
            <OnnxModel Include="{model}" Recipe="{recipe}" />
            """;
        string[] projects = [PackageFixture.CreateConsumer("LinkA", items), PackageFixture.CreateConsumer("LinkB", items)];
        File.WriteAllText(Path.Combine(PackageFixture.Root, "Linked.slnx"),
            "<Solution>\n  <Project Path=\"LinkA/LinkA.csproj\" />\n  <Project Path=\"LinkB/LinkB.csproj\" />\n</Solution>\n");

        var (code, log) = PackageFixture.Dotnet(PackageFixture.Root, PackageFixture.Args("build", "Linked.slnx", "-m"));

        Assert.AreEqual(0, code, log);
        // No copy retries (a locked file) or other race symptoms: the build is clean.
        StringAssert.Contains(log, "0 Warning(s)");
        StringAssert.Contains(log, "0 Error(s)");
        foreach (var project in projects)
        {
            string compressed = Path.Combine(project, "obj", "Debug", "net10.0", "compress", "models", "net.onnx");
            string bin = Path.Combine(project, "bin", "Debug", "net10.0");
            Assert.IsTrue(File.Exists(compressed), log);
            CollectionAssert.AreEqual(new[] { Path.Combine(bin, "models", "net.onnx") },
                Directory.GetFiles(bin, "*.onnx", SearchOption.AllDirectories), log);
            Assert.AreEqual(Sha256(compressed), Sha256(Path.Combine(bin, "models", "net.onnx")));
            AssertWeightsReadable(Path.Combine(bin, "models", "net.onnx"), model);
        }
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void WhenLibraryIsPacked_PackageCarriesTheCompressedModels_RenamedByTheRecipe_WithTheCompressedDataFile_NotTheOriginals()
    {
        // A broad Pack glob makes the originals (and the original's .data) pack items too: none may reach the package.
        // two.onnx: an explicit item's OutputName wins over its recipe's output:.
        string project = PackageFixture.CreateConsumer("PackedLib", """
            <None Update="models/**" CopyToOutputDirectory="PreserveNewest" Pack="true" PackagePath="models/" />
            <OnnxModel Include="models/two.onnx" OutputName="two-item.onnx" />
            """, outputType: "Library");
        string models = Path.Combine(project, "models");
        Directory.CreateDirectory(models);
        TinyModels.WriteRelu(Path.Combine(models, "relu.onnx"));
        File.WriteAllText(Path.Combine(models, "relu.compression.yaml"), "output: relu-small.onnx   # the name in bin and in the package\n" + TinyModels.Recipe);
        TinyModels.WriteRelu(Path.Combine(models, "two.onnx"));
        File.WriteAllText(Path.Combine(models, "two.compression.yaml"), "output: two-recipe.onnx\n" + TinyModels.Recipe);
        string ext = Path.Combine(models, "ext.onnx");
        // The original's data file also holds a weight nothing reads, which the recipe removes: the two data files differ.
        TinyModels.WriteMatMul(ext, new CompressTasks.Model.SaveOptions { ExternalData = CompressTasks.Model.ExternalDataPolicy.All, SizeThreshold = 0 }, deadWeight: true);
        File.WriteAllText(Path.Combine(models, "ext.compression.yaml"), "passes:\n  - eliminate-dead\n");

        var (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("pack", "-c", "Release", "-o", "nupkgs"));

        Assert.AreEqual(0, code, log);
        string compressed = Path.Combine(project, "obj", "Release", "net10.0", "compress", "models");
        Assert.IsTrue(File.Exists(Path.Combine(compressed, "relu-small.onnx")), log);
        Assert.IsTrue(File.Exists(Path.Combine(compressed, "ext.onnx.data")), "the engine kept the tensors external\n" + log);
        Assert.IsLessThan(new FileInfo(ext + ".data").Length, new FileInfo(Path.Combine(compressed, "ext.onnx.data")).Length, "the dead weight is gone");
        // bin: the recipe's name; the original name is absent.
        string bin = Path.Combine(project, "bin", "Release", "net10.0");
        CollectionAssert.AreEquivalent(new[] { "ext.onnx", "ext.onnx.data", "relu-small.onnx", "two-item.onnx" },
            Directory.GetFiles(bin, "*.onnx*", SearchOption.AllDirectories).Select(Path.GetFileName).ToArray(), log);

        string package = Directory.GetFiles(Path.Combine(project, "nupkgs"), "PackedLib.*.nupkg").Single();
        using var zip = System.IO.Compression.ZipFile.OpenRead(package);
        var modelEntries = zip.Entries.Where(e => e.FullName.EndsWith(".onnx", StringComparison.Ordinal) || e.FullName.EndsWith(".onnx.data", StringComparison.Ordinal))
            .ToDictionary(e => e.FullName);
        CollectionAssert.AreEquivalent(new[] { "models/relu-small.onnx", "models/ext.onnx", "models/ext.onnx.data", "models/two-item.onnx" }, modelEntries.Keys.ToArray(),
            string.Join("\n", zip.Entries.Select(e => e.FullName)));
        foreach (var (entry, file) in new[] { ("models/relu-small.onnx", "relu-small.onnx"), ("models/ext.onnx", "ext.onnx"), ("models/ext.onnx.data", "ext.onnx.data"), ("models/two-item.onnx", "two-item.onnx") })
        {
            using var stream = modelEntries[entry].Open();
            using var bytes = new MemoryStream();
            stream.CopyTo(bytes);
            Assert.AreEqual(Sha256(Path.Combine(compressed, file)), Convert.ToHexString(SHA256.HashData(bytes.ToArray())), entry);
        }
        // The package is a development dependency: the library's own package does not depend on it.
        var nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using (var reader = new StreamReader(nuspec.Open()))
            Assert.DoesNotContain("id=\"CompressTasks\"", reader.ReadToEnd());
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void WhenCalibrationDataOrABaseRecipeChanges_CompressionRunsAgain_AndWithoutChangesIsSkipped()
    {
        string project = PackageFixture.CreateConsumer("DataInputs",
            """<None Update="models/*.onnx" CopyToOutputDirectory="PreserveNewest" />""");
        string models = Path.Combine(project, "models"), data = Path.Combine(project, "data");
        Directory.CreateDirectory(models);
        Directory.CreateDirectory(data);
        TinyModels.WriteMatMul(Path.Combine(models, "matmul.onnx"));
        string calibration = Path.Combine(data, "calib.npy");
        WriteRows(calibration, 3);
        string baseRecipe = Path.Combine(models, "base.yaml");
        File.WriteAllText(baseRecipe, "extends: int8-static\nverify: off\n");
        File.WriteAllText(Path.Combine(models, "compression.yaml"), "extends: ./base.yaml\ncalibration: ../data/calib.npy\n");
        string report = Path.Combine(project, "obj", "Debug", "net10.0", "compress", "models", "matmul.onnx.report.json");

        // 1. First build: one calibration batch per row (the input's batch dimension is 1).
        var (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build"));
        Assert.AreEqual(0, code, log);
        StringAssert.Contains(StaticNotes(report), "on 3 batch(es)");

        // 2. Nothing changed: skipped.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", "--no-restore"));
        Assert.AreEqual(0, code, log);
        StringAssert.Contains(log, $"Skipping target \"{CompressTarget}\" because all output files are up-to-date");

        // 3. The calibration file changed: the target runs, and the report shows the new data.
        WriteRows(calibration, 5);
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", "--no-restore"));
        Assert.AreEqual(0, code, log);
        Assert.DoesNotContain($"Skipping target \"{CompressTarget}\"", log);
        StringAssert.Contains(log, "compress.dll\" run");
        StringAssert.Contains(StaticNotes(report), "on 5 batch(es)");

        // 4. Nothing changed again: skipped.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", "--no-restore"));
        Assert.AreEqual(0, code, log);
        StringAssert.Contains(log, $"Skipping target \"{CompressTarget}\" because all output files are up-to-date");

        // 5. The base recipe (named by extends:) changed: the target runs; a new base is a new cache key, so it recompresses.
        File.AppendAllText(baseRecipe, "passes:\n  - quantize-static: { method: percentile }\n");
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", "--no-restore"));
        Assert.AreEqual(0, code, log);
        Assert.DoesNotContain($"Skipping target \"{CompressTarget}\"", log);
        StringAssert.Contains(StaticNotes(report), "with percentile");
    }

    [TestMethod]
    [Timeout(900_000, CooperativeCancellation = true)]
    public void WhenPropertiesAreSet_TheyDisableCompression_SkipVerification_MoveReports_AndKeepTheCacheAcrossClean()
    {
        string project = PackageFixture.CreateConsumer("Props", """<None Update="net.onnx" CopyToOutputDirectory="PreserveNewest" />""");
        string original = Path.Combine(project, "net.onnx");
        // The recipe drops a weight nothing reads, so the compressed model is smaller than the original.
        TinyModels.WriteMatMul(original, deadWeight: true);
        File.WriteAllText(Path.Combine(project, "compression.yaml"), "passes:\n  - eliminate-dead\nverify:\n  min-cosine: 0.99\n");
        string compressed = Path.Combine(project, "obj", "Debug", "net10.0", "compress", "net.onnx");
        string bin = Path.Combine(project, "bin", "Debug", "net10.0", "net.onnx");
        string cache = Path.Combine(PackageFixture.Root, "PropsCache");

        // 1. CompressTasksEnabled=false: the original is copied as it is, nothing is compressed.
        var (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", "-p:CompressTasksEnabled=false"));
        Assert.AreEqual(0, code, log);
        Assert.IsFalse(File.Exists(compressed), log);
        Assert.AreEqual(Sha256(original), Sha256(bin));

        // 2. A design-time build (the IDE's) never compresses, even when asked for the entry target.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("msbuild", "-t:CompressTasks_Compress", "-p:DesignTimeBuild=true"));
        Assert.AreEqual(0, code, log);
        Assert.IsFalse(File.Exists(compressed), log);

        // 3. Verify off, reports in reports/, the cache outside obj.
        string[] properties = ["-p:CompressTasksVerify=false", "-p:CompressTasksReportDir=reports/", $"-p:CompressTasksCacheDir={cache}/"];
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", ["--no-restore", .. properties]));
        Assert.AreEqual(0, code, log);
        string report = Path.Combine(project, "reports", "net.onnx.report.json");
        Assert.IsTrue(File.Exists(report), log);
        using (var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(report)))
            Assert.IsFalse(json.RootElement.GetProperty("verification").GetProperty("enabled").GetBoolean(), "CompressTasksVerify=false overrides the recipe's verify:");
        Assert.IsLessThan(new FileInfo(original).Length, new FileInfo(compressed).Length);
        Assert.AreEqual(Sha256(compressed), Sha256(bin));
        string first = Sha256(compressed);
        Assert.IsNotEmpty(Directory.GetDirectories(cache), "the cache holds the result");

        // 4. Clean deletes the compressed model and the report, not the cache; the next build restores from it.
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("clean", properties));
        Assert.AreEqual(0, code, log);
        Assert.IsFalse(File.Exists(compressed), log);
        Assert.IsFalse(File.Exists(report), log);
        (code, log) = PackageFixture.Dotnet(project, PackageFixture.Args("build", ["--no-restore", .. properties]));
        Assert.AreEqual(0, code, log);
        StringAssert.Contains(log, "(cached)");
        Assert.AreEqual(first, Sha256(compressed));
    }

    private static void WriteRows(string path, int rows)
    {
        var values = new float[rows * 4];
        for (int i = 0; i < values.Length; i++) values[i] = (i % 7) * 0.25f - 0.5f;
        CompressTasks.TestSupport.NpyFile.Write(path, values, rows, 4);
    }

    private static string StaticNotes(string report)
    {
        using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(report));
        var pass = json.RootElement.GetProperty("passes").EnumerateArray().Single(p => p.GetProperty("name").GetString() == "quantize-static");
        return string.Join("\n", pass.GetProperty("notes").EnumerateArray().Select(n => n.GetString()));
    }

    /// <summary>The copied model loads with its data file beside it and its weights equal the original's.</summary>
    private static void AssertWeightsReadable(string copied, string original)
    {
        using var a = CompressTasks.Model.OnnxModel.Load(copied);
        using var b = CompressTasks.Model.OnnxModel.Load(original);
        var wa = a.Proto.Graph.Initializer.Single(t => t.Name == "W");
        var wb = b.Proto.Graph.Initializer.Single(t => t.Name == "W");
        CollectionAssert.AreEqual(b.GetTensorBytes(wb).ToArray(), a.GetTensorBytes(wa).ToArray());
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
