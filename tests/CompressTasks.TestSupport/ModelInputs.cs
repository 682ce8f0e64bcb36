using CompressTasks.Model.Onnx;

namespace CompressTasks.TestSupport;

/// <summary>The inputs a model needs and ways to feed them: the backend suite's .pb files or deterministic random data.</summary>
public static class ModelInputs
{
    /// <summary>Graph inputs that are not initializers (IR &lt; 4 lists initializers as inputs too), in order.</summary>
    public static IReadOnlyList<ValueInfoProto> RealInputs(ModelProto model)
    {
        var initializers = model.Graph.Initializer.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        return model.Graph.Input.Where(i => !initializers.Contains(i.Name)).ToArray();
    }

    /// <summary>Whether every graph input and output is a plain tensor (the harness does not feed sequences, maps or optionals).</summary>
    public static bool AllTensorIO(ModelProto model) =>
        RealInputs(model).Concat(model.Graph.Output).All(v => v.Type?.TensorType is not null);

    /// <summary>The backend suite's <c>test_data_set_*</c> directories of a case, sorted.</summary>
    public static IReadOnlyList<string> DataSets(string caseDirectory) =>
        Directory.GetDirectories(caseDirectory, "test_data_set_*").Order(StringComparer.Ordinal).ToArray();

    /// <summary>Reads <c>input_N.pb</c> of a data set, naming each after the N-th real input of the model.</summary>
    public static IReadOnlyList<TensorValue> ReadInputs(string dataSet, ModelProto model)
    {
        var names = RealInputs(model);
        var files = Numbered(dataSet, "input_");
        if (files.Count > names.Count) throw new InvalidOperationException($"{dataSet} has {files.Count} inputs, the model takes {names.Count}");
        return files.Select((f, i) => AsDeclared(TensorValue.ReadPb(f) with { Name = names[i].Name }, names[i])).ToArray();
    }

    // The suite (onnx before 1.14) stores bfloat16 inputs as uint16 tensors of the same bits; give them the declared type.
    private static TensorValue AsDeclared(TensorValue value, ValueInfoProto declared) =>
        value.DataType == (int)TensorProto.Types.DataType.Uint16 && declared.Type?.TensorType?.ElemType == (int)TensorProto.Types.DataType.Bfloat16
            ? value with { DataType = (int)TensorProto.Types.DataType.Bfloat16 }
            : value;

    /// <summary>Reads <c>output_N.pb</c> of a data set, in order.</summary>
    public static IReadOnlyList<TensorValue> ReadOutputs(string dataSet) => Numbered(dataSet, "output_").Select(TensorValue.ReadPb).ToArray();

    private static List<string> Numbered(string dataSet, string prefix)
    {
        var files = new List<string>();
        for (int i = 0; File.Exists(Path.Combine(dataSet, $"{prefix}{i}.pb")); i++) files.Add(Path.Combine(dataSet, $"{prefix}{i}.pb"));
        return files;
    }

    /// <summary>
    /// Deterministic inputs for a model without test data: each symbolic dimension takes <paramref name="dims"/>[name] or 1,
    /// floats are uniform in [0, 1), integers come from <paramref name="constants"/>[input name] or are 0.
    /// </summary>
    public static IReadOnlyList<TensorValue> Random(ModelProto model, int seed,
        IReadOnlyDictionary<string, long[]>? shapes = null, IReadOnlyDictionary<string, long>? constants = null)
    {
        var random = new Random(seed);
        var result = new List<TensorValue>();
        foreach (var input in RealInputs(model))
        {
            var type = input.Type.TensorType;
            long[] shape = shapes is not null && shapes.TryGetValue(input.Name, out var s) ? s
                : type.Shape?.Dim.Select(d => d.HasDimValue && d.DimValue > 0 ? d.DimValue : 1L).ToArray() ?? [];
            long count = shape.Aggregate(1L, (a, d) => a * d);
            switch ((TensorProto.Types.DataType)type.ElemType)
            {
                case TensorProto.Types.DataType.Float:
                    result.Add(TensorValue.FromFloats(input.Name, shape, Enumerable.Range(0, (int)count).Select(_ => random.NextSingle()).ToArray()));
                    break;
                case TensorProto.Types.DataType.Int64:
                    long c = constants is not null && constants.TryGetValue(input.Name, out var v) ? v : 0;
                    result.Add(TensorValue.FromInt64s(input.Name, shape, Enumerable.Repeat(c, (int)count).ToArray()));
                    break;
                default:
                    throw new NotSupportedException($"input '{input.Name}' has element type {type.ElemType}; add it to ModelInputs.Random");
            }
        }
        return result;
    }
}
