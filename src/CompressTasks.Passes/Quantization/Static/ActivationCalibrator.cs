using CompressTasks.Graphs;
using CompressTasks.Kernels.Calibration;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime;
using System.Runtime.InteropServices;

namespace CompressTasks.Passes.Quantization.Static;

/// <summary>
/// Runs the float model, as it stands before quantization, through ONNX Runtime with every value of its main
/// graph exposed as an output, so activation ranges can be measured on calibration data.
/// </summary>
/// <remarks>
/// Graph optimizations are disabled so no value is fused away or renamed, and one thread keeps the ranges
/// independent of the machine's core count; the copy is opened from memory, with
/// weights stored in external files read into it. Batches stream: each is run, its activations go to one
/// <see cref="IRangeEstimator"/> per value, and only the estimators' fixed-size summaries are kept.
/// </remarks>
internal sealed class ActivationCalibrator : IDisposable
{
    private readonly ModelSession _session;

    private ActivationCalibrator(ModelSession session, Dictionary<string, int> types)
    {
        _session = session;
        ElementTypes = types;
    }

    /// <summary>The session's inputs, for loading calibration feeds.</summary>
    public IReadOnlyList<TensorInfo> Inputs => _session.Inputs;

    /// <summary>ONNX element type of every graph input and node output of the main graph (0 for non-tensors).</summary>
    public IReadOnlyDictionary<string, int> ElementTypes { get; }

    /// <summary>Opens the exposed copy of <paramref name="main"/>'s model.</summary>
    public static ActivationCalibrator Open(Graph main)
    {
        var model = main.Model;
        var copy = model.Proto.Clone();
        var exposed = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var node in copy.Graph.Node)
            foreach (var output in node.Output)
                if (output.Length > 0 && exposed.Add(output)) copy.Graph.Output.Add(new ValueInfoProto { Name = output });
        // One thread: some kernels split reductions by thread count, and the same data must give the same ranges
        // (and so the same bytes) on every machine.
        // The weights are handed over in place (external data included), not serialized with the tree.
        var session = ModelSession.OpenAsWritten(copy, model, "model exposed for calibration",
            new RuntimeOptions { IntraOpThreads = 1, ReleaseActivations = true });
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var info in session.Inputs.Concat(session.Outputs)) types[info.Name] = info.ElementType;
        return new ActivationCalibrator(session, types);
    }

    /// <summary>
    /// Runs every feed and returns the estimated range of each of <paramref name="names"/> (float32 graph inputs
    /// or node outputs), in the order given.
    /// </summary>
    public (float Min, float Max)[] Calibrate(IReadOnlyList<string> names, IEnumerable<IReadOnlyDictionary<string, TensorValue>> feeds,
        Func<IRangeEstimator> estimator)
    {
        var estimators = names.Select(_ => estimator()).ToArray();
        var inputs = _session.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var outputs = names.Where(n => !inputs.Contains(n)).ToArray();
        var estimatorOf = Enumerable.Range(0, names.Count).Where(i => !inputs.Contains(names[i])).ToArray();
        foreach (var feed in feeds)
        {
            for (int i = 0; i < names.Count; i++)
                if (inputs.Contains(names[i])) estimators[i].Observe(feed[names[i]].As<float>());
            // Only graph inputs asked for: nothing to run (ONNX Runtime refuses a run with no outputs). Outputs are
            // observed in ONNX Runtime's buffers: copies of every activation would pile up on the large-object heap.
            if (outputs.Length > 0)
                _session.Run(feed, outputs, (o, _, _, data) => estimators[estimatorOf[o]].Observe(MemoryMarshal.Cast<byte, float>(data)));
        }
        return [.. estimators.Select(e => e.Range())];
    }

    public void Dispose() => _session.Dispose();
}
