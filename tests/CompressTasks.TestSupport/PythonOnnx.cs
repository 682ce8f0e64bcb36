using System.Diagnostics;

namespace CompressTasks.TestSupport;

/// <summary>Runs snippets under the system python that has python3-onnx, e.g. to ask onnx.checker about a file we wrote.</summary>
public static class PythonOnnx
{
    /// <summary>Runs <c>python3 -c script args…</c>; fails (throws) when that python or its onnx module is missing.</summary>
    public static (int ExitCode, string Output) Run(string script, params string[] args)
    {
        if (!File.Exists(TestPaths.SystemPython))
            throw new InvalidOperationException($"{TestPaths.SystemPython} is missing: install python3-onnx (apt-get install -y python3-onnx)");
        var (probeExit, probeOutput) = Start("import onnx", []);
        if (probeExit != 0)
            throw new InvalidOperationException($"{TestPaths.SystemPython} cannot import onnx (apt-get install -y python3-onnx): {probeOutput}");
        return Start(script, args);
    }

    /// <summary>onnx.checker with full_check (shape inference too) on a model held in memory; exit 0 when it accepts it.</summary>
    public static (int ExitCode, string Output) CheckModel(byte[] model)
    {
        var path = Path.Combine(Path.GetTempPath(), $"ct-check-{Guid.NewGuid():N}.onnx");
        try
        {
            File.WriteAllBytes(path, model);
            return Run("import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print('ok')", path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (int, string) Start(string script, string[] args)
    {
        var info = new ProcessStartInfo(TestPaths.SystemPython) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(script);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }
}
