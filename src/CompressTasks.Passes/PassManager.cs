using System.Diagnostics;
using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes;

/// <summary>One pass of a recipe with its validated arguments.</summary>
public sealed record PassStep(GraphPass Pass, PassArguments Arguments);

/// <summary>What one step did, with the graph's size before and after it.</summary>
public sealed record PassRun(string Name, PassResult Result, int NodesBefore, int NodesAfter, long BytesBefore, long BytesAfter, double Milliseconds)
{
    /// <summary>Initializers (dense and sparse, every graph) before the step.</summary>
    public int InitializersBefore { get; init; }

    /// <summary>Initializers (dense and sparse, every graph) after the step.</summary>
    public int InitializersAfter { get; init; }
}

/// <summary>
/// Runs passes in recipe order on one graph view of the model, validating the graph after each pass in debug
/// builds and always at the end, and measuring what each pass changed.
/// </summary>
public static class PassManager
{
    /// <summary>
    /// Runs <paramref name="steps"/> in order, up to <paramref name="rounds"/> times while any pass still changes
    /// the graph (a fixed point for presets such as <c>optimize</c>). Results of repeated rounds add up per step.
    /// <paramref name="progress"/>, when given, hears one line as each pass starts. <paramref name="context"/> offers
    /// passes the teacher and calibration data (none by default).
    /// </summary>
    public static IReadOnlyList<PassRun> Run(
        OnnxModel model, IReadOnlyList<PassStep> steps, int rounds = 1, bool validateEachPass = false, Action<string>? progress = null,
        PassContext? context = null)
    {
        context ??= PassContext.None;
        var main = Graph.Open(model);
        var problems = GraphValidator.Validate(main);
        if (problems.Count > 0)
            throw new CompressTasksException(DiagnosticCodes.GraphInvalid,
                $"the input model is not a valid graph: {string.Join("; ", problems.Take(5))}", model.SourcePath);
#if DEBUG
        validateEachPass = true;
#endif
        var runs = new PassRun?[steps.Count];
        for (int round = 0; round < Math.Max(1, rounds); round++)
        {
            bool changed = false;
            for (int i = 0; i < steps.Count; i++)
            {
                var step = steps[i];
                progress?.Invoke(round == 0 ? $"pass {step.Pass.Descriptor.Name}" : $"pass {step.Pass.Descriptor.Name} (round {round + 1})");
                int nodesBefore = CountNodes(main), initializersBefore = CountInitializers(main);
                long bytesBefore = CountBytes(model);
                long start = Stopwatch.GetTimestamp();
                var result = new PassResult();
                step.Pass.Run(main, step.Arguments, result, context);
                double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                changed |= result.Changed;
                if (validateEachPass) ThrowIfBroken(main, step.Pass.Descriptor.Name, model);
                if (runs[i] is { } previous)
                {
                    previous.Result.Absorb(result);
                    runs[i] = previous with
                    {
                        NodesAfter = CountNodes(main), BytesAfter = CountBytes(model), InitializersAfter = CountInitializers(main),
                        Milliseconds = previous.Milliseconds + ms,
                    };
                }
                else runs[i] = new PassRun(step.Pass.Descriptor.Name, result, nodesBefore, CountNodes(main), bytesBefore, CountBytes(model), ms)
                {
                    InitializersBefore = initializersBefore,
                    InitializersAfter = CountInitializers(main),
                };
            }
            if (!changed) break;
        }
        ThrowIfBroken(main, "the pipeline", model);
        return runs.Select(r => r!).ToList();
    }

    private static void ThrowIfBroken(Graph main, string pass, OnnxModel model)
    {
        var problems = GraphValidator.Validate(main);
        if (problems.Count > 0)
            throw new CompressTasksException(DiagnosticCodes.PassBrokeGraph,
                $"{pass} left an invalid graph (a bug in CompressTasks; please report it): {string.Join("; ", problems.Take(5))}", model.SourcePath);
    }

    /// <summary>Nodes in the main graph and every subgraph.</summary>
    public static int CountNodes(Graph main)
    {
        int n = 0;
        foreach (var g in main.SelfAndDescendants()) n += g.Nodes.Count;
        return n;
    }

    /// <summary>Initializers, dense and sparse, in the main graph and every subgraph.</summary>
    public static int CountInitializers(Graph main)
    {
        int n = 0;
        foreach (var g in main.SelfAndDescendants()) n += g.Proto.Initializer.Count + g.Proto.SparseInitializer.Count;
        return n;
    }

    /// <summary>Bytes of every tensor payload in the model, as stored.</summary>
    public static long CountBytes(OnnxModel model)
    {
        long bytes = 0;
        TensorVisitor.ForEachTensor(model.Proto, t => bytes += TensorData.StoredByteCount(t));
        return bytes;
    }
}
