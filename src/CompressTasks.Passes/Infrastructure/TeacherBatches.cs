using CompressTasks.Graphs;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// The statistics a reconstruction pass needs, collected in memory-bounded batches: the layers in the order the
/// pass will visit them; asking for a layer not collected yet runs the teacher once for it and the layers after it
/// whose H fit in <see cref="BudgetBytes"/> together, and a layer the pass is done with is released. Peak memory for
/// statistics is then about the budget (or the largest single layer), at the cost of one teacher run per batch.
/// </summary>
/// <remarks>
/// Sequential (GPTQ's own mode, <c>sequential: true</c>): the statistics of each layer come from the model as the
/// pass has left it so far, i.e. with every layer visited before it already compressed, so each layer compensates
/// the errors of those before it. The pass visits layers in graph (topological) order; before each one the current
/// model is run in ONNX Runtime over the calibration data, from memory (its weights handed over in place):
/// one calibration sweep per layer, instead of one per batch.
/// </remarks>
internal sealed class TeacherBatches(TeacherStatistics teacher, IReadOnlyList<LinearWeight> layers, bool sequential = false)
{
    /// <summary>
    /// Bytes of H triangles collected in one teacher run (at least one layer's). 32 MB, half the size of ResNet-18:
    /// with 64 MB its first run collected 54 MB of statistics for the 22 layers up to layer 3, which set
    /// reconstruct-resnet18's peak; at 32 MB a run or two more cost about a second each.
    /// </summary>
    public const long BudgetBytes = 32L << 20;

    private readonly Dictionary<string, int> _index = layers.Select((l, i) => (l.Constant.Name, i)).DistinctBy(p => p.Name).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
    private int _collectedUpTo;

    /// <summary>The teacher the statistics come from.</summary>
    public TeacherStatistics Teacher => teacher;

    /// <summary>Bytes of the statistics of <paramref name="layer"/> (H and sums of every distinct reader input).</summary>
    public static long Bytes(LinearWeight layer) =>
        layer.Readers.Select(r => r.Request).Distinct().Count() * (long)layer.Groups * ((long)layer.Rows * (layer.Rows + 1) / 2 * sizeof(float) + layer.Rows * sizeof(double));

    private Constant? _current;

    /// <summary>Statistics of <paramref name="layer"/> (group <paramref name="group"/>), collecting its batch first when needed.</summary>
    public (SymmetricMatrix SecondMoment, double[] Mean)? Statistics(LinearWeight layer, out string? reason, int group = 0)
    {
        if (sequential)
        {
            if (!ReferenceEquals(_current, layer.Constant)) teacher = Student(layer);
            _current = layer.Constant;
            return TeacherLayers.Statistics(teacher, layer, out reason, group);
        }
        if (_index.TryGetValue(layer.Constant.Name, out int at) && at >= _collectedUpTo)
        {
            long bytes = 0;
            int end = at;
            while (end < layers.Count && (end == at || bytes + Bytes(layers[end]) <= BudgetBytes)) bytes += Bytes(layers[end++]);
            TeacherLayers.Prefetch(teacher, layers.Skip(at).Take(end - at));
            _collectedUpTo = end;
        }
        return TeacherLayers.Statistics(teacher, layer, out reason, group);
    }

    // The model as compressed so far, run for this layer's statistics from memory.
    private TeacherStatistics Student(LinearWeight layer)
    {
        var student = new TeacherStatistics(layer.Constant.Graph.Root.Model, teacher.Calibration);
        TeacherLayers.Prefetch(student, [layer]);
        Sweeps++;
        return student;
    }

    /// <summary>Teacher runs made for sequential statistics.</summary>
    public int Sweeps { get; private set; }

    /// <summary>Statistics from this size on are collected as soon as they are released.</summary>
    public const long CollectBytes = 8L << 20;

    /// <summary>
    /// Frees <paramref name="layer"/>'s statistics (H is native memory, freed at once). A wide layer (Conv 512·3·3)
    /// also leaves tens of MB of working arrays (the weight in two layouts, the dequantized result) on the large-object
    /// heap, which only gen-2 collections sweep: left to the collector's own schedule, those of consecutive layers
    /// were alive at once, as were the kernels' pooled scratch buffers (<see cref="ScratchBuffers"/>), dropped here. A
    /// blocking gen-2 collection costs little next to the layer's O(K³) work; an aggressive one, because a plain
    /// collection keeps the freed regions committed for reuse.
    /// </summary>
    public void Release(LinearWeight layer)
    {
        TeacherLayers.Release(teacher, layer);
        if (Bytes(layer) < CollectBytes) return;
        ScratchBuffers.Release();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
    }
}
