using System.Collections.Concurrent;
using System.Diagnostics;
using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.TestSupport;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace CompressTasks.Passes.Tests;

/// <summary>
/// The <c>optimize</c> preset over every case of the ONNX backend suite (node, and the pytorch-converted,
/// pytorch-operator and simple models) that ONNX Runtime can run: the optimized
/// model must load and give the original's outputs on the suite's inputs (test_data_set_0), at ORT_DISABLE_ALL and
/// ORT_ENABLE_ALL, within |a − e| ≤ 1e-5 + 1e-4·|e| (integers, booleans and strings exactly). The reference is the
/// original run by ORT with its optimizations off, not the suite's expected outputs, so cases where ORT itself
/// disagrees with the suite still check our rewrite. Every matching optimized model must also pass onnx.checker
/// wherever the checker accepts the original (the system's onnx predates some newer opsets of the suite). Cases run in
/// parallel; the summary lines give the counts.
/// </summary>
[TestClass]
public sealed class NodeSuiteTests
{
    private const double Rtol = 1e-4, Atol = 1e-5;

    public TestContext TestContext { get; set; } = null!;

    private enum Outcome { Same, OrtCannotRun, Nondeterministic, NotTensorIO, Failed }

    [TestMethod]
    [DataRow("node")]
    [DataRow("pytorch-converted")]
    [DataRow("pytorch-operator")]
    [DataRow("simple")]
    public void WhenBackendSuiteIsOptimized_EveryModelOrtRunsGivesTheSameOutputs(string category)
    {
        var cases = TestPaths.BackendCases(category);
        Assert.IsNotEmpty(cases, $"no models under {TestPaths.BackendCorpusRoot}/{category}");
        var steps = OptimizePreset.Steps();
        var written = Directory.CreateTempSubdirectory("ct-node-suite-").FullName;
        var results = new ConcurrentBag<(string Name, Outcome Outcome, string Detail, int Before, int After)>();
        long start = Stopwatch.GetTimestamp();
        Parallel.ForEach(cases, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, dir =>
        {
            var name = Path.GetFileName(dir);
            try
            {
                var (outcome, detail, before, after) = Check(dir, steps, written);
                results.Add((name, outcome, detail, before, after));
            }
            catch (Exception e)
            {
                results.Add((name, Outcome.Failed, $"{e.GetType().Name}: {e.Message}", 0, 0));
            }
        });
        var all = results.OrderBy(r => r.Name, StringComparer.Ordinal).ToList();
        int Count(Outcome o) => all.Count(r => r.Outcome == o);
        var same = all.Where(r => r.Outcome == Outcome.Same).ToList();
        TestContext.WriteLine($"backend suite '{category}', optimize: {all.Count} cases in {Stopwatch.GetElapsedTime(start).TotalSeconds:F1} s: {same.Count} run and match, " +
            $"{Count(Outcome.OrtCannotRun)} skipped because ORT cannot load or run the original, {Count(Outcome.Nondeterministic)} nondeterministic, " +
            $"{Count(Outcome.NotTensorIO)} with sequence/optional I/O, {Count(Outcome.Failed)} failed; " +
            $"nodes {same.Sum(r => r.Before)} → {same.Sum(r => r.After)} over the matching cases (tolerance {Atol:G} + {Rtol:G}·|e|)");
        foreach (var r in same.Where(r => r.After != r.Before)) TestContext.WriteLine($"  changed: {r.Name}: {r.Before} → {r.After} nodes {r.Detail}");
        var failed = all.Where(r => r.Outcome == Outcome.Failed).Select(r => $"{r.Name}: {r.Detail}").ToList();
        foreach (var f in failed) TestContext.WriteLine("  FAILED " + f);
        try
        {
            failed.AddRange(Checker(Path.GetDirectoryName(cases[0])!, written));
        }
        finally
        {
            Directory.Delete(written, recursive: true);
        }
        Assert.IsEmpty(failed, string.Join("\n", failed.Take(20)));
    }

    // One python process checks every optimized model whose original the checker accepts; returns the failures.
    private IEnumerable<string> Checker(string root, string written)
    {
        const string Script = """
            import onnx, os, sys
            root, out = sys.argv[1], sys.argv[2]
            ok, rejected, bad = 0, 0, []
            for f in sorted(os.listdir(out)):
                name = f[:-len('.onnx')]
                try:
                    onnx.checker.check_model(onnx.load(os.path.join(root, name, 'model.onnx')))
                except Exception:
                    rejected += 1
                    continue
                try:
                    onnx.checker.check_model(onnx.load(os.path.join(out, f)))
                    ok += 1
                except Exception as e:
                    bad.append(name + ': onnx.checker: ' + str(e).splitlines()[0])
            print(ok, rejected)
            print('\n'.join(bad))
            """;
        var (exit, output) = PythonOnnx.Run(Script, root, written);
        Assert.AreEqual(0, exit, output);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        TestContext.WriteLine($"onnx.checker: {lines[0].Split(' ')[0]} optimized models pass; {lines[0].Split(' ')[1]} originals the installed checker itself rejects; {lines.Length - 1} fail");
        return lines.Skip(1);
    }

    private static (Outcome, string, int, int) Check(string dir, IReadOnlyList<PassStep> steps, string written)
    {
        var bytes = File.ReadAllBytes(Path.Combine(dir, "model.onnx"));
        using var model = OnnxModel.Parse(bytes);
        if (!ModelInputs.AllTensorIO(model.Proto)) return (Outcome.NotTensorIO, "", 0, 0);
        var inputs = ModelInputs.ReadInputs(ModelInputs.DataSets(dir)[0], model.Proto);
        IReadOnlyList<TensorValue> expected;
        try
        {
            expected = OrtRunner.Run(bytes, inputs, GraphOptimizationLevel.ORT_DISABLE_ALL);
            // Random ops and training-mode Dropout differ from run to run: nothing to compare against.
            if (TensorComparer.Difference(expected, OrtRunner.Run(bytes, inputs, GraphOptimizationLevel.ORT_DISABLE_ALL), 0, 0) is not null)
                return (Outcome.Nondeterministic, "", 0, 0);
        }
        catch (OnnxRuntimeException e)
        {
            return (Outcome.OrtCannotRun, e.Message, 0, 0);
        }
        int before = PassManager.CountNodes(Graph.Open(model));
        IReadOnlyList<PassRun> runs;
        try
        {
            runs = PassManager.Run(model, steps, rounds: 4, validateEachPass: true);
        }
        catch (CompressTasksException e)
        {
            return (Outcome.Failed, $"optimize threw {e.Code}: {e.Message}", 0, 0);
        }
        int after = PassManager.CountNodes(Graph.Open(model));
        var optimized = model.Proto.ToByteArray();
        foreach (var level in OrtRunner.Levels)
        {
            IReadOnlyList<TensorValue> actual;
            try
            {
                actual = OrtRunner.Run(optimized, inputs, level);
            }
            catch (OnnxRuntimeException e)
            {
                return (Outcome.Failed, $"the optimized model does not run at {level}: {e.Message}", before, after);
            }
            if (TensorComparer.Difference(expected, actual, Rtol, Atol) is { } difference)
                return (Outcome.Failed, $"at {level}: {difference}", before, after);
        }
        File.WriteAllBytes(Path.Combine(written, Path.GetFileName(dir) + ".onnx"), optimized);
        return (Outcome.Same, string.Join(", ", runs.Where(r => r.Result.Rewritten > 0).Select(r => $"{r.Name} ×{r.Result.Rewritten}")), before, after);
    }
}
