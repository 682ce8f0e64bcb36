using System.Diagnostics;
using System.Runtime.InteropServices;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime.Data;

namespace CompressTasks.Runtime.Calibration;

/// <summary>
/// Layer input statistics of the teacher (the original model) on calibration data: the model runs in ONNX Runtime,
/// with optimizations disabled so every value keeps its name, the requested values exposed as extra graph outputs,
/// one batch at a time. The exposed activations are kept (up to <see cref="PendingBytes"/>) and folded into
/// <see cref="LayerStatistics"/> once the session is closed and the model's pages released, so the H matrices and
/// the model are not in memory at once; past the budget, batches are folded as they come. Memory is bounded by the
/// H matrices plus that budget, never by the number of samples. The weights reach ONNX Runtime in place
/// (<see cref="ModelSession.OpenAsWritten"/>), external data included.
/// </summary>
/// <remarks>
/// Created once per model and calibration source; nothing runs until <see cref="Collect"/> is called, and values
/// already collected are served from memory, so several passes can ask for what they need. Values that are not a
/// float32 activation of the main graph come back in <see cref="Problems"/> with the reason instead of statistics.
/// Data are read with <see cref="FeedLoader"/> (a .npy/.npz/.pb file, a folder, or one file per input).
/// </remarks>
public sealed class TeacherStatistics
{
    private readonly string? _modelPath;
    private readonly OnnxModel? _model;
    private readonly DataSource _calibration;
    private readonly int _maxRows;
    private readonly Dictionary<StatisticsRequest, LayerStatistics> _collected = [];
    private readonly Dictionary<StatisticsRequest, string> _problems = [];

    /// <summary>Statistics of the model at <paramref name="modelPath"/> on the data at <paramref name="calibrationPath"/>.</summary>
    public TeacherStatistics(string modelPath, string calibrationPath, int maxRows = 4096)
        : this(modelPath, DataSource.FromPath(calibrationPath), maxRows)
    {
    }

    /// <summary>Statistics of the model at <paramref name="modelPath"/> on the data <paramref name="calibration"/> names.</summary>
    public TeacherStatistics(string modelPath, DataSource calibration, int maxRows = 4096)
    {
        _modelPath = modelPath;
        _calibration = calibration;
        _maxRows = maxRows;
    }

    /// <summary>
    /// Statistics of a model in memory (GPTQ's sequential mode: the model as compressed so far) on the data
    /// <paramref name="calibration"/> names. Its tensors must not change while <see cref="Collect"/> runs.
    /// </summary>
    public TeacherStatistics(OnnxModel model, DataSource calibration, int maxRows = 4096)
    {
        _model = model;
        _calibration = calibration;
        _maxRows = maxRows;
    }

    /// <summary>The calibration data.</summary>
    public DataSource Calibration => _calibration;

    /// <summary>Requests that could not be served, with the reason.</summary>
    public IReadOnlyDictionary<StatisticsRequest, string> Problems => _problems;

    /// <summary>Calibration batches run so far (over all sweeps).</summary>
    public int Batches { get; private set; }

    /// <summary>Time spent running the teacher and accumulating.</summary>
    public TimeSpan Elapsed { get; private set; }

    /// <summary>Bytes held by all statistics collected.</summary>
    public long Bytes => _collected.Values.Sum(s => s.Bytes);

    /// <summary>
    /// Drops the statistics of <paramref name="requests"/> (a pass done with a layer frees its H); asking for them
    /// again runs the teacher again.
    /// </summary>
    public void Release(IEnumerable<StatisticsRequest> requests)
    {
        foreach (var r in requests)
            if (_collected.Remove(r, out var s)) s.Dispose();
    }

    /// <summary>
    /// Returns the statistics of every request that can be served, running the teacher once over the calibration
    /// data for those not collected yet. Unreadable data or a model ONNX Runtime cannot run throw CT3002/CT3001.
    /// </summary>
    public IReadOnlyDictionary<StatisticsRequest, LayerStatistics> Collect(IReadOnlyList<StatisticsRequest> requests)
    {
        var missing = requests.Distinct().Where(r => !_collected.ContainsKey(r) && !_problems.ContainsKey(r)).ToList();
        if (missing.Count > 0) Sweep(missing);
        var result = new Dictionary<StatisticsRequest, LayerStatistics>();
        foreach (var r in requests)
            if (_collected.TryGetValue(r, out var s)) result[r] = s;
        return result;
    }

    /// <summary>
    /// Bytes of exposed activations a sweep keeps while ONNX Runtime runs, to be folded into the statistics after the
    /// session and the model's pages are released: the H matrices and the model are then not in memory together.
    /// A request's values are kept only while they take less memory than its statistics (not an early, wide
    /// activation of a narrow layer; not many samples of a layer with a small H), then folded as they come; past the
    /// budget, everything is. Each request's batches go in in the same order either way: the same bits.
    /// </summary>
    public long PendingBytes { get; init; } = 32L << 20;

    private delegate void Sink(StatisticsRequest request, int elementType, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data);

    private void Sweep(List<StatisticsRequest> requests)
    {
        var start = Stopwatch.GetTimestamp();
        var accumulators = new Dictionary<StatisticsRequest, LayerStatistics>();
        void Fold(StatisticsRequest r, int elementType, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
        {
            if (_problems.ContainsKey(r)) return;
            if (Add(r, elementType, shape, data, accumulators) is { } problem)
            {
                _problems[r] = problem;
                if (accumulators.Remove(r, out var dropped)) dropped.Dispose();
            }
        }
        using (var pending = new PendingBatches(PendingBytes))
        {
            RunTeacher(requests, (r, type, shape, data) =>
            {
                if (pending.TryKeep(r, type, shape, data)) return;
                pending.Drain(Fold, pending.Overflowed ? null : r);
                Fold(r, type, shape, data);
            });
            pending.Drain(Fold);
        }
        // What the sweep leaves (the runs' garbage, the folds' pooled gathers and blocks, copies freed into the C heap,
        // where freed memory stays resident until trimmed) would otherwise sit beside the work on the statistics.
        ScratchBuffers.Release();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        NativeHeap.Trim();
        foreach (var (r, s) in accumulators) _collected[r] = s;
        Elapsed += Stopwatch.GetElapsedTime(start);
    }

    // Runs the teacher over the calibration data with the requested values exposed, handing every batch's value of
    // each request to the sink. The session and the model loaded for it are gone when this returns.
    private void RunTeacher(List<StatisticsRequest> requests, Sink sink)
    {
        using var loaded = _model is null ? OnnxModel.Load(_modelPath!) : null;
        var model = _model ?? loaded!;
        var graph = model.Proto.Graph;
        var inputs = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var produced = graph.Node.SelectMany(n => n.Output).ToHashSet(StringComparer.Ordinal);
        var copy = model.Proto.Clone();
        var outputs = copy.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        var served = new List<StatisticsRequest>();
        foreach (var r in requests)
        {
            if (!inputs.Contains(r.Value) && !produced.Contains(r.Value))
            {
                _problems[r] = $"the original model has no value '{r.Value}' in its main graph (renamed by an earlier pass, or inside a subgraph)";
                continue;
            }
            served.Add(r);
            // A name-only output: ONNX Runtime infers type and shape.
            if (!inputs.Contains(r.Value) && outputs.Add(r.Value)) copy.Graph.Output.Add(new ValueInfoProto { Name = r.Value });
        }
        if (served.Count == 0) return;
        var names = served.Select(r => r.Value).Where(v => !inputs.Contains(v)).Distinct().ToArray();
        KeepAncestors(copy.Graph, names);
        var runtime = new RuntimeOptions { Optimization = OptimizationLevel.Disabled, ReleaseActivations = true };
        // Earlier reads (a pass's checks of every weight) may have left the whole model resident; from here only the
        // weights the cut graph reads come back.
        loaded?.ReleasePages();
        using var session = ModelSession.OpenAsWritten(copy, model, $"{(_modelPath is null ? "model in memory" : Path.GetFileName(_modelPath))} (teacher statistics)", runtime);
        foreach (var feed in FeedLoader.Load(_calibration, session.Inputs, _maxRows))
        {
            Batches++;
            foreach (var r in served)
                if (inputs.Contains(r.Value)) sink(r, feed[r.Value].ElementType, feed[r.Value].Shape, feed[r.Value].Data);
            // Outputs are read in place, in ONNX Runtime's buffers.
            if (names.Length > 0)
                session.Run(feed, names, (i, type, shape, data) =>
                {
                    foreach (var r in served)
                        if (r.Value == names[i]) sink(r, type, shape, data);
                });
        }
    }

    // Cuts the graph down to what computes `names` (its only outputs now): the statistics of early layers then do not
    // run, nor touch the weights of, the rest of the model (for ResNet-18's first sweep, 47 MB of layer 4 kernels).
    // A graph with subgraphs is left whole, since their nodes may read any outer value.
    private static void KeepAncestors(GraphProto graph, string[] names)
    {
        if (names.Length == 0 || graph.Node.Any(n => n.Attribute.Any(a => a.G is not null || a.Graphs.Count > 0))) return;
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < graph.Node.Count; i++)
            foreach (var output in graph.Node[i].Output) producer[output] = i;
        var keep = new bool[graph.Node.Count];
        var pending = new Stack<string>(names);
        while (pending.TryPop(out var value))
        {
            if (!producer.TryGetValue(value, out int i) || keep[i]) continue;
            keep[i] = true;
            foreach (var input in graph.Node[i].Input) pending.Push(input);
        }
        var nodes = graph.Node.Where((_, i) => keep[i]).ToList();
        var read = nodes.SelectMany(n => n.Input).ToHashSet(StringComparer.Ordinal);
        var outputs = names.Select(n => graph.Output.FirstOrDefault(o => o.Name == n) ?? new ValueInfoProto { Name = n }).ToList();
        var initializers = graph.Initializer.Where(t => read.Contains(t.Name)).ToList();
        // Before IR 4 every initializer is also a graph input; one dropped must not become an input to feed.
        var dropped = graph.Initializer.Where(t => !read.Contains(t.Name)).Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var inputs = graph.Input.Where(i => !dropped.Contains(i.Name)).ToList();
        graph.Input.Clear();
        graph.Input.AddRange(inputs);
        graph.Node.Clear();
        graph.Node.AddRange(nodes);
        graph.Output.Clear();
        graph.Output.AddRange(outputs);
        graph.Initializer.Clear();
        graph.Initializer.AddRange(initializers);
    }

    // Copies of exposed values in native memory (freed as soon as folded, not left to the collector), up to a budget.
    private sealed unsafe class PendingBatches(long budget) : IDisposable
    {
        private readonly List<(StatisticsRequest Request, int ElementType, long[] Shape, nint Data, int Length)> _batches = [];
        private readonly Dictionary<StatisticsRequest, long> _kept = [];
        private readonly HashSet<StatisticsRequest> _folding = [];
        private long _bytes;

        // True once the budget was exceeded: from then on everything is folded as it comes, in order.
        public bool Overflowed { get; private set; }

        // False when the value is to be folded now: over budget, or the request's values kept so far would take more
        // memory than the statistics they feed (from then on its values are all folded as they come).
        public bool TryKeep(StatisticsRequest r, int elementType, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
        {
            if (Overflowed || _folding.Contains(r)) return false;
            long kept = _kept.GetValueOrDefault(r) + data.Length;
            if (kept > StatisticsBytes(r, shape))
            {
                _folding.Add(r);
                return false;
            }
            if (_bytes + data.Length > budget)
            {
                Overflowed = true;
                return false;
            }
            var copy = (nint)NativeMemory.Alloc((nuint)Math.Max(1, data.Length));
            data.CopyTo(new Span<byte>((void*)copy, data.Length));
            _batches.Add((r, elementType, shape.ToArray(), copy, data.Length));
            _bytes += data.Length;
            _kept[r] = kept;
            return true;
        }

        // Folds the values kept (of one request, or all), in the order they came, and frees them.
        public void Drain(Sink sink, StatisticsRequest? only = null)
        {
            int kept = 0;
            for (int i = 0; i < _batches.Count; i++)
            {
                var batch = _batches[i];
                if (only is not null && !batch.Request.Equals(only))
                {
                    _batches[kept++] = batch;
                    continue;
                }
                sink(batch.Request, batch.ElementType, batch.Shape, new ReadOnlySpan<byte>((void*)batch.Data, batch.Length));
                NativeMemory.Free((void*)batch.Data);
                _batches[i] = default; // freed: a throw from a later fold must not free it again in Dispose
                _bytes -= batch.Length;
            }
            _batches.RemoveRange(kept, _batches.Count - kept);
        }

        public void Dispose()
        {
            foreach (var b in _batches) NativeMemory.Free((void*)b.Data);
            _batches.Clear();
        }

        // Bytes of the H triangles a value feeds (an upper bound when the shape is not the layer input expected).
        private static long StatisticsBytes(StatisticsRequest r, ReadOnlySpan<long> shape)
        {
            if (shape.Length == 0) return long.MaxValue;
            long groups = r.Conv?.Group ?? 1, k = r.Conv is { } conv && shape.Length >= 2
                ? shape[1] / Math.Max(1, conv.Group) * conv.KernelH * conv.KernelW
                : r.Transposed ? shape[0] : shape[^1];
            return k <= 0 ? long.MaxValue : groups * k * (k + 1) / 2 * sizeof(float);
        }
    }

    private static string? Add(StatisticsRequest r, int elementType, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data, Dictionary<StatisticsRequest, LayerStatistics> accumulators)
    {
        if (elementType != 1) return $"'{r.Value}' is not float32 (element type {elementType})";
        var values = MemoryMarshal.Cast<byte, float>(data);
        if (r.Conv is { } conv) return AddPatches(r, conv, shape, values, accumulators);
        if (shape.Length == 0 || (r.Transposed && shape.Length != 2)) return $"'{r.Value}' has shape [{string.Join(", ", shape.ToArray())}], not the layer input expected";
        long features = r.Transposed ? shape[0] : shape[^1];
        if (features < 1 || features > 16384) return $"'{r.Value}' has {features} features; statistics are kept for 1 to 16384";
        if (!accumulators.TryGetValue(r, out var statistics)) accumulators[r] = statistics = new LayerStatistics((int)features);
        else if (statistics.Features != features) return $"'{r.Value}' changes its feature count between batches";
        if (r.Transposed) statistics.AddTransposed(values);
        else statistics.Add(values);
        return null;
    }

    private static string? AddPatches(StatisticsRequest r, ConvGeometry conv, ReadOnlySpan<long> shape, ReadOnlySpan<float> values, Dictionary<StatisticsRequest, LayerStatistics> accumulators)
    {
        if (shape.Length is not (3 or 4)) return $"'{r.Value}' has shape [{string.Join(", ", shape.ToArray())}]; im2col statistics are kept for 1-D and 2-D Conv inputs";
        if (shape[1] % conv.Group != 0) return $"'{r.Value}' has {shape[1]} channels, not a multiple of the Conv's {conv.Group} groups";
        long features = shape[1] / conv.Group * conv.KernelH * conv.KernelW;
        if (features < 1 || features > 16384) return $"'{r.Value}' gives patches of {features} features; statistics are kept for 1 to 16384";
        if (!accumulators.TryGetValue(r, out var statistics)) accumulators[r] = statistics = new LayerStatistics((int)features, conv.Group);
        else if (statistics.Features != features) return $"'{r.Value}' changes its channel count between batches";
        statistics.AddPatches(values, shape, conv);
        return null;
    }
}
