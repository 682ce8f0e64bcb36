using CompressTasks.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace CompressTasks.Runtime;

/// <summary>Declared input or output of a session: name, ONNX element type and shape (-1 or a name for free dims).</summary>
public sealed record TensorInfo(string Name, int ElementType, long[] Shape, string[] SymbolicDims);

/// <summary>One output of a run: its ONNX element type, shape and bytes, valid only during the call.</summary>
public delegate void OutputVisitor(int index, int elementType, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data);

/// <summary>
/// One ONNX Runtime inference session over a model file or bytes. Failures become CT3001 diagnostics, never raw
/// ONNX Runtime exceptions, and the session is disposed before rethrowing.
/// </summary>
public sealed class ModelSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _name;
    private readonly SharedWeights? _weights;
    private readonly bool _releaseActivations;

    private ModelSession(InferenceSession session, string name, bool usesCuda, SharedWeights? weights, bool releaseActivations)
    {
        _session = session;
        _name = name;
        _weights = weights;
        _releaseActivations = releaseActivations;
        UsesCuda = usesCuda;
        Inputs = Describe(session.InputMetadata).Where(i => weights?.Contains(i.Name) != true).ToArray();
        Outputs = Describe(session.OutputMetadata);
    }

    public IReadOnlyList<TensorInfo> Inputs { get; }

    public IReadOnlyList<TensorInfo> Outputs { get; }

    /// <summary>True when the CUDA execution provider was appended; false when the session runs on CPU.</summary>
    public bool UsesCuda { get; }

    /// <summary>The execution provider that runs this session: <c>cuda</c> or <c>cpu</c>.</summary>
    public string ExecutionProvider => UsesCuda ? "cuda" : "cpu";

    /// <summary>Opens a model file (external data resolves beside it).</summary>
    public static ModelSession Open(string path, RuntimeOptions? options = null) =>
        Create(options, o => new InferenceSession(path, o), path, null);

    /// <summary>
    /// Opens a model held in memory. Its external data, if any, resolves in <paramref name="externalDataFolder"/> (the
    /// folder of the file it came from), where ONNX Runtime reads it itself, as for a model opened from its path.
    /// </summary>
    public static ModelSession Open(byte[] model, string displayName, RuntimeOptions? options = null, string? externalDataFolder = null) =>
        Create(options, o =>
        {
            if (externalDataFolder is not null) o.AddSessionConfigEntry("session.model_external_initializers_file_folder_path", externalDataFolder);
            return new InferenceSession(model, o);
        }, displayName, null);

    /// <summary>
    /// Opens a model tree whose tensors are those of <paramref name="source"/> (or built in memory) to run it as
    /// written (optimizations disabled), without copying its weights: each large float initializer of the main graph
    /// is fed to ONNX Runtime as a view of the payload already in memory (the mapped file, or external data), and
    /// only the rest of the tree is serialized (<see cref="SharedWeights"/>).
    /// </summary>
    /// <remarks>
    /// Serializing a 64 MB model for ONNX Runtime cost three copies of its weights at once (our bytes, ONNX
    /// Runtime's parse of them, and its own tensors); shared, the weights stay where they are. The payloads must
    /// stay unchanged while the session is open; keep <paramref name="source"/> reachable until it is disposed.
    /// A model with external data can be opened this way too, since the payloads come through
    /// <see cref="OnnxModel.GetTensorBytes"/>.
    /// </remarks>
    public static ModelSession OpenAsWritten(ModelProto proto, OnnxModel? source, string displayName, RuntimeOptions? options = null)
    {
        options = (options ?? new RuntimeOptions()) with { Optimization = OptimizationLevel.Disabled };
        var weights = SharedWeights.Split(proto, source, displayName, out byte[] hollow);
        try
        {
            return Create(options, o => new InferenceSession(hollow, o), displayName, weights);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private static ModelSession Create(RuntimeOptions? options, Func<SessionOptions, InferenceSession> open, string name, SharedWeights? weights)
    {
        options ??= new RuntimeOptions();
        using var sessionOptions = new SessionOptions
        {
            GraphOptimizationLevel = options.Optimization switch
            {
                OptimizationLevel.Disabled => GraphOptimizationLevel.ORT_DISABLE_ALL,
                OptimizationLevel.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                OptimizationLevel.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
            IntraOpNumThreads = options.IntraOpThreads,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        if (options.ReleaseActivations)
        {
            sessionOptions.EnableCpuMemArena = false;
            sessionOptions.EnableMemoryPattern = false;
        }
        if (!options.PrepackWeights) sessionOptions.AddSessionConfigEntry("session.disable_prepacking", "1");
        if (options.OptimizedModelPath is not null) sessionOptions.OptimizedModelFilePath = options.OptimizedModelPath;
        bool usesCuda = options.PreferCuda && TryAppendCuda(sessionOptions);
        try
        {
            return new ModelSession(open(sessionOptions), name, usesCuda, weights, options.ReleaseActivations);
        }
        catch (OnnxRuntimeException e)
        {
            throw new CompressTasksException(DiagnosticCodes.RuntimeFailed, $"ONNX Runtime cannot load the model: {e.Message}", name, inner: e);
        }
    }

    private static bool TryAppendCuda(SessionOptions options)
    {
        try
        {
            options.AppendExecutionProvider_CUDA();
            return true;
        }
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException) { return false; /* CPU it is */ }
    }

    /// <summary>Runs the model on <paramref name="feeds"/> and returns the requested outputs (all by default), in order.</summary>
    public IReadOnlyList<TensorValue> Run(IReadOnlyDictionary<string, TensorValue> feeds, IReadOnlyList<string>? outputNames = null)
    {
        var names = outputNames ?? Outputs.Select(o => o.Name).ToArray();
        var outputs = new TensorValue[names.Count];
        Run(feeds, names, (i, type, shape, data) => outputs[i] = new TensorValue(type, shape.ToArray(), data.ToArray()));
        return outputs;
    }

    /// <summary>
    /// Runs the model on <paramref name="feeds"/> and hands each requested output, in order, to
    /// <paramref name="visit"/> as a view of ONNX Runtime's own buffer, valid only during the call: for consumers
    /// that fold outputs into statistics, where a copy of every exposed activation would be large-object garbage
    /// until the next gen-2 collection.
    /// </summary>
    public void Run(IReadOnlyDictionary<string, TensorValue> feeds, IReadOnlyList<string> outputNames, OutputVisitor visit)
    {
        var inputNames = new List<string>(feeds.Count);
        var inputs = new List<OrtValue>(feeds.Count);
        var pins = new List<System.Buffers.MemoryHandle>(feeds.Count);
        try
        {
            foreach (var (name, value) in feeds)
            {
                inputNames.Add(name);
                // The bytes are pinned for the run: ONNX Runtime reads them in place, without a copy.
                var pin = value.Data.AsMemory().Pin();
                pins.Add(pin);
                unsafe
                {
                    inputs.Add(OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)value.ElementType,
                        value.Shape, (IntPtr)pin.Pointer, value.Data.Length));
                }
            }
            using var runOptions = new RunOptions();
            using var results = _weights is null
                ? _session.Run(runOptions, inputNames, inputs, outputNames)
                : _session.Run(runOptions, [.. inputNames, .. _weights.Names], [.. inputs, .. _weights.Values], outputNames);
            for (int i = 0; i < results.Count; i++)
            {
                var info = results[i].GetTensorTypeAndShape();
                visit(i, (int)info.ElementDataType, info.Shape, results[i].GetTensorDataAsSpan<byte>());
            }
        }
        catch (OnnxRuntimeException e)
        {
            throw new CompressTasksException(DiagnosticCodes.RuntimeFailed, $"ONNX Runtime failed to run the model: {e.Message}", _name, inner: e);
        }
        finally
        {
            foreach (var v in inputs) v.Dispose();
            foreach (var p in pins) p.Dispose();
            if (_releaseActivations) NativeHeap.Trim();
        }
    }

    private static TensorInfo[] Describe(IReadOnlyDictionary<string, NodeMetadata> metadata) =>
        metadata.Select(kv => new TensorInfo(
            kv.Key,
            kv.Value.IsTensor ? (int)kv.Value.ElementDataType : 0,
            kv.Value.IsTensor ? kv.Value.Dimensions.Select(d => (long)d).ToArray() : [],
            kv.Value.IsTensor ? kv.Value.SymbolicDimensions : [])).ToArray();

    public void Dispose()
    {
        _session.Dispose();
        _weights?.Dispose();
    }
}
