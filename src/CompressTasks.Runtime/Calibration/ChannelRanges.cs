using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime.Data;

namespace CompressTasks.Runtime.Calibration;

/// <summary>
/// Per-channel absolute maxima (along the last axis) of some values of a model on calibration data, for activation
/// smoothing: one ONNX Runtime sweep with the values exposed as extra outputs, each batch folded in place from ONNX
/// Runtime's buffers, so memory is one float per channel and value, whatever the number of samples.
/// </summary>
public static class ChannelRanges
{
    /// <summary>
    /// Runs <paramref name="model"/> (optimizations disabled, one thread, so the same data give the same maxima on
    /// every machine) over <paramref name="calibration"/> and returns max|x[…, j]| for every float32 value of
    /// <paramref name="values"/> (graph inputs or node outputs of the main graph). Values that cannot be measured
    /// come back in <see cref="ChannelMaxima.Problems"/> with the reason. The model's tensors must not change
    /// meanwhile. Unreadable data or a model ONNX Runtime cannot run throw <see cref="CompressTasksException"/>.
    /// </summary>
    public static ChannelMaxima Collect(OnnxModel model, DataSource calibration, IReadOnlyList<string> values, int maxRows = 4096)
    {
        var graph = model.Proto.Graph;
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var produced = graph.Node.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        var copy = model.Proto.Clone();
        var exposed = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var maxima = new Dictionary<string, float[]>(StringComparer.Ordinal);
        var problems = new Dictionary<string, string>(StringComparer.Ordinal);
        var outputs = new List<string>();
        foreach (var v in values.Distinct())
        {
            if (inputs.Contains(v)) continue;
            if (!produced.Contains(v))
            {
                problems[v] = $"the model has no value '{v}' in its main graph";
                continue;
            }
            outputs.Add(v);
            // A name-only output: ONNX Runtime infers type and shape.
            if (exposed.Add(v)) copy.Graph.Output.Add(new ValueInfoProto { Name = v });
        }
        var options = new RuntimeOptions { IntraOpThreads = 1, ReleaseActivations = true };
        using var session = ModelSession.OpenAsWritten(copy, model, "model exposed for channel ranges", options);
        int batches = 0;
        foreach (var feed in FeedLoader.Load(calibration, session.Inputs, maxRows))
        {
            batches++;
            foreach (var v in values)
                if (inputs.Contains(v) && feed.TryGetValue(v, out var t)) Fold(v, t.ElementType, t.Shape, t.Data, maxima, problems);
            if (outputs.Count > 0)
                session.Run(feed, outputs, (i, type, shape, data) => Fold(outputs[i], type, shape, data, maxima, problems));
        }
        foreach (var v in problems.Keys) maxima.Remove(v);
        foreach (var m in maxima.Values) TensorPrimitives.Abs(m, m);
        return new ChannelMaxima(maxima, problems, batches);
    }

    // acc[j] keeps the value of largest magnitude seen in channel j (its sign dropped at the end): one pass per row of
    // K values, in place, without a scratch buffer.
    private static void Fold(string name, int elementType, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data,
        Dictionary<string, float[]> maxima, Dictionary<string, string> problems)
    {
        if (problems.ContainsKey(name)) return;
        if (elementType != 1)
        {
            problems[name] = $"'{name}' is not float32 (element type {elementType})";
            return;
        }
        if (shape.Length == 0 || shape[^1] < 1 || shape[^1] > int.MaxValue)
        {
            problems[name] = $"'{name}' has shape [{string.Join(", ", shape.ToArray())}]: no channel axis";
            return;
        }
        int channels = (int)shape[^1];
        if (!maxima.TryGetValue(name, out var acc)) maxima[name] = acc = new float[channels];
        else if (acc.Length != channels)
        {
            problems[name] = $"'{name}' changes its channel count between batches ({acc.Length}, then {channels})";
            return;
        }
        var floats = MemoryMarshal.Cast<byte, float>(data);
        for (int row = 0; row + channels <= floats.Length; row += channels)
            TensorPrimitives.MaxMagnitude(acc, floats.Slice(row, channels), acc);
    }
}

/// <summary>What <see cref="ChannelRanges.Collect"/> measured.</summary>
/// <param name="Maxima">max|x[…, j]| per channel j of each value measured.</param>
/// <param name="Problems">Values that could not be measured, with the reason.</param>
/// <param name="Batches">Calibration batches run.</param>
public sealed record ChannelMaxima(IReadOnlyDictionary<string, float[]> Maxima, IReadOnlyDictionary<string, string> Problems, int Batches);
