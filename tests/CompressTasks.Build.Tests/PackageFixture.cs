using System.Diagnostics;
using System.Text;

namespace CompressTasks.Build.Tests;

/// <summary>
/// Packs CompressTasks once per test run into a temporary feed, under a unique version (a re-packed version would be
/// served from the NuGet cache, pitfall 9), and runs `dotnet` against consumer projects in a temporary folder.
/// </summary>
internal static class PackageFixture
{
    private static readonly Lazy<(string Root, string Version)> Packed = new(Pack);

    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Temporary root with NuGet.config (local feed + nuget.org, private packages folder).</summary>
    public static string Root => Packed.Value.Root;

    public static string Version => Packed.Value.Version;

    /// <summary>The packed CompressTasks .nupkg in the temporary feed.</summary>
    public static string PackageFile => Path.Combine(Root, "feed", $"CompressTasks.{Version}.nupkg");

    /// <summary>Deletes the temporary feed, packages folder and consumers, if this run created them.</summary>
    public static void Delete()
    {
        if (!Packed.IsValueCreated) return;
        try
        {
            Directory.Delete(Packed.Value.Root, recursive: true);
        }
        catch (IOException)
        {
            // A build server that outlived its build may still hold a file; the folder is in the temp directory anyway.
        }
    }

    /// <summary>Creates a console project (or <paramref name="outputType"/>) referencing the package in a new folder under <see cref="Root"/>.</summary>
    public static string CreateConsumer(string name, string extraItems = "", string outputType = "Exe")
    {
        string dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>{outputType}</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="CompressTasks" Version="{Version}" PrivateAssets="all" />
                {extraItems}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), outputType == "Exe" ? "Console.WriteLine(\"hi\");\n" : "namespace Lib; public static class Api { }\n");
        return dir;
    }

    /// <summary>Runs dotnet with no build servers (nothing outlives the test) and returns exit code and output.</summary>
    public static (int ExitCode, string Output) Dotnet(string workingDirectory, params string[] args) => Run(workingDirectory, "dotnet", args);

    /// <summary>Runs <paramref name="program"/> (dotnet, or an installed tool) the same way: clean environment, output captured.</summary>
    public static (int ExitCode, string Output) Run(string workingDirectory, string program, params string[] args)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        // The test host's own MSBuild settings must not leak into the builds under test.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase)).ToList())
            start.Environment.Remove(key);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["UseSharedCompilation"] = "false";
        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', args)} timed out:\n{output}");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }

    /// <summary>Build arguments for readable, parsable logs.</summary>
    public static string[] Args(string verb, params string[] more) =>
        [verb, "-nologo", "-tl:off", "-v:n", "-nodeReuse:false", "-p:UseSharedCompilation=false", .. more];

    private static (string, string) Pack()
    {
        string version = "0.0.1-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmssfff", System.Globalization.CultureInfo.InvariantCulture);
        string root = Path.Combine(Path.GetTempPath(), "ct-build-tests-" + Guid.NewGuid().ToString("N")[..8]);
        string feed = Path.Combine(root, "feed");
        Directory.CreateDirectory(feed);
        var (code, output) = Dotnet(RepoRoot, "pack", "src/CompressTasks.Package/CompressTasks.Package.csproj",
            "-nologo", "-tl:off", "-v:m", "-nodeReuse:false", "-p:UseSharedCompilation=false", $"-p:PackageVersion={version}", "-o", feed);
        if (code != 0) throw new InvalidOperationException("dotnet pack failed:\n" + output);
        File.WriteAllText(Path.Combine(root, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <config><add key="globalPackagesFolder" value="{Path.Combine(root, "packages")}" /></config>
            </configuration>
            """);
        // Keep the consumers away from the repo's Directory.Build.props/Directory.Packages.props.
        File.WriteAllText(Path.Combine(root, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(root, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(Path.Combine(root, "Directory.Packages.props"), "<Project />");
        return (root, version);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "CompressTasks.sln"))) return dir.FullName;
        throw new InvalidOperationException("cannot find CompressTasks.sln above " + AppContext.BaseDirectory);
    }
}
