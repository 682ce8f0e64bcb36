using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace CompressTasks.TestSupport;

/// <summary>
/// Runs a model with ONNX Runtime on the CPU, one thread, at a chosen optimization level. Tests compare at
/// <see cref="GraphOptimizationLevel.ORT_DISABLE_ALL"/> (what our passes must preserve on their own) and at
/// <see cref="GraphOptimizationLevel.ORT_ENABLE_ALL"/> (what users run).
/// </summary>
public static class OrtRunner
{
    /// <summary>The two levels every comparison runs at.</summary>
    public static readonly GraphOptimizationLevel[] Levels = [GraphOptimizationLevel.ORT_DISABLE_ALL, GraphOptimizationLevel.ORT_ENABLE_ALL];

    /// <summary>Runs the model file (ORT loads it from its path, so it finds external data beside it).</summary>
    public static IReadOnlyList<TensorValue> Run(string modelPath, IReadOnlyList<TensorValue> inputs, GraphOptimizationLevel level)
    {
        using var options = Options(level);
        using var session = new InferenceSession(modelPath, options);
        return Run(session, inputs);
    }

    /// <summary>Runs a model given as bytes (no external data).</summary>
    public static IReadOnlyList<TensorValue> Run(byte[] model, IReadOnlyList<TensorValue> inputs, GraphOptimizationLevel level)
    {
        using var options = Options(level);
        using var session = new InferenceSession(model, options);
        return Run(session, inputs);
    }

    /// <summary>Runs a session; inputs are matched by name, every model output is returned in the model's order.</summary>
    public static IReadOnlyList<TensorValue> Run(InferenceSession session, IReadOnlyList<TensorValue> inputs)
    {
        var values = new List<OrtValue>(inputs.Count);
        try
        {
            foreach (var input in inputs) values.Add(ToOrt(input));
            var outputNames = session.OutputNames;
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputs.Select(i => i.Name).ToArray(), values, outputNames);
            var outputs = new List<TensorValue>(results.Count);
            for (int i = 0; i < results.Count; i++) outputs.Add(FromOrt(outputNames[i], results[i]));
            return outputs;
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static SessionOptions Options(GraphOptimizationLevel level) => new()
    {
        GraphOptimizationLevel = level,
        IntraOpNumThreads = 1,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
    };

    private static OrtValue ToOrt(TensorValue input)
    {
        var type = (TensorElementType)input.DataType;
        if (input.Strings is not null)
        {
            var strings = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, input.Shape);
            for (int i = 0; i < input.Strings.Length; i++) strings.StringTensorSetElementAt(input.Strings[i].AsSpan(), i);
            return strings;
        }
        var value = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, type, input.Shape);
        var destination = value.GetTensorMutableRawData();
        if (destination.Length != input.Data.Length)
        {
            value.Dispose();
            throw new InvalidOperationException($"input {input} has {input.Data.Length} bytes, ORT expects {destination.Length}");
        }
        input.Data.CopyTo(destination);
        return value;
    }

    private static TensorValue FromOrt(string name, OrtValue value)
    {
        if (value.OnnxType != OnnxValueType.ONNX_TYPE_TENSOR)
            throw new NotSupportedException($"output '{name}' is a {value.OnnxType}, the harness compares tensors only");
        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        if (info.ElementDataType == TensorElementType.String)
            return new TensorValue(name, (int)TensorElementType.String, shape, [], value.GetStringTensorAsArray());
        return new TensorValue(name, (int)info.ElementDataType, shape, value.GetTensorMutableRawData().ToArray());
    }
}
