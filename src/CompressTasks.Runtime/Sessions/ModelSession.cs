using CompressTasks.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace CompressTasks.Runtime;

/// <summary>Declared input or output of a session: name, ONNX element type and shape (-1 or a name for free dims).</summary>
public sealed record TensorInfo(string Name, int ElementType, long[] Shape, string[] SymbolicDims);

/// <summary>
/// One ONNX Runtime inference session over a model file or bytes. Failures become CT3001 diagnostics, never raw
/// ONNX Runtime exceptions, and the session is disposed before rethrowing.
/// </summary>
public sealed class ModelSession : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _name;

    private ModelSession(InferenceSession session, string name, bool usesCuda)
    {
        _session = session;
        _name = name;
        UsesCuda = usesCuda;
        Inputs = Describe(session.InputMetadata);
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
        Create(options, o => new InferenceSession(path, o), path);

    /// <summary>Opens a model held in memory (no external data).</summary>
    public static ModelSession Open(byte[] model, string displayName, RuntimeOptions? options = null) =>
        Create(options, o => new InferenceSession(model, o), displayName);

    private static ModelSession Create(RuntimeOptions? options, Func<SessionOptions, InferenceSession> open, string name)
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
        if (options.OptimizedModelPath is not null) sessionOptions.OptimizedModelFilePath = options.OptimizedModelPath;
        bool usesCuda = options.PreferCuda && TryAppendCuda(sessionOptions);
        try
        {
            return new ModelSession(open(sessionOptions), name, usesCuda);
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
            using var results = _session.Run(runOptions, inputNames, inputs, names);
            var outputs = new TensorValue[results.Count];
            for (int i = 0; i < results.Count; i++)
            {
                var info = results[i].GetTensorTypeAndShape();
                outputs[i] = new TensorValue((int)info.ElementDataType, info.Shape, results[i].GetTensorDataAsSpan<byte>().ToArray());
            }
            return outputs;
        }
        catch (OnnxRuntimeException e)
        {
            throw new CompressTasksException(DiagnosticCodes.RuntimeFailed, $"ONNX Runtime failed to run the model: {e.Message}", _name, inner: e);
        }
        finally
        {
            foreach (var v in inputs) v.Dispose();
            foreach (var p in pins) p.Dispose();
        }
    }

    private static TensorInfo[] Describe(IReadOnlyDictionary<string, NodeMetadata> metadata) =>
        metadata.Select(kv => new TensorInfo(
            kv.Key,
            kv.Value.IsTensor ? (int)kv.Value.ElementDataType : 0,
            kv.Value.IsTensor ? kv.Value.Dimensions.Select(d => (long)d).ToArray() : [],
            kv.Value.IsTensor ? kv.Value.SymbolicDimensions : [])).ToArray();

    public void Dispose() => _session.Dispose();
}
