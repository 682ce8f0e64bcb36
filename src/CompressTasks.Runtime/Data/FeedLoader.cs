using CompressTasks.Diagnostics;

namespace CompressTasks.Runtime.Data;

/// <summary>
/// Turns calibration or evaluation data into session feeds: a <c>.npy</c> file whose first axis is the sample
/// axis, a <c>.npz</c> archive of such arrays, an ONNX <c>TensorProto</c> <c>.pb</c> file, or a folder of any of
/// them (read in name order and concatenated in that order). Used for models with one input;
/// rows go in batches of <c>batchSize</c> (or the input's fixed first dimension).
/// </summary>
public static class FeedLoader
{
    public static IReadOnlyList<IReadOnlyDictionary<string, TensorValue>> Load(string path, IReadOnlyList<TensorInfo> inputs, int maxRows, int batchSize = 50)
    {
        if (inputs.Count != 1)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                $"data files feed models with one input; this model has {inputs.Count} ({string.Join(", ", inputs.Select(i => i.Name))})", path);
        var input = inputs[0];
        var arrays = Files(path).SelectMany(Read).ToList();
        int elementType = ElementType(arrays[0].Descr, path);
        var rowShape = arrays[0].Shape[1..];
        if (rowShape.Length + 1 != input.Shape.Length)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                $"data rows have shape [{string.Join(", ", rowShape)}] but input '{input.Name}' has rank {input.Shape.Length}", path);
        if (elementType != input.ElementType)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                $"data has element type {elementType} but input '{input.Name}' takes {input.ElementType}", path);
        if (input.Shape[0] > 0) batchSize = (int)input.Shape[0];
        long rowBytes = arrays[0].Data.Length / Math.Max(1, arrays[0].Shape[0]);
        var feeds = new List<IReadOnlyDictionary<string, TensorValue>>();
        int rows = 0;
        foreach (var array in arrays)
        {
            long count = array.Shape[0];
            for (long start = 0; start + batchSize <= count && rows + batchSize <= maxRows; start += batchSize, rows += batchSize)
            {
                var bytes = array.Data.AsSpan((int)(start * rowBytes), (int)(batchSize * rowBytes)).ToArray();
                feeds.Add(new Dictionary<string, TensorValue> { [input.Name] = new(elementType, [batchSize, .. rowShape], bytes) });
            }
        }
        if (feeds.Count == 0)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs, $"no full batch of {batchSize} rows in the data", path);
        return feeds;
    }

    /// <summary>Integer class labels, one per row, from a <c>.npy</c> file of int64 or int32.</summary>
    public static long[] LoadLabels(string path)
    {
        var array = Read(path).Single();
        return array.Descr switch
        {
            "<i8" => array.As<long>(),
            "<i4" => Array.ConvertAll(array.As<int>(), v => (long)v),
            _ => throw new CompressTasksException(DiagnosticCodes.VerificationInputs, $"labels must be int64 or int32, not '{array.Descr}'", path),
        };
    }

    private static IEnumerable<string> Files(string path) =>
        Directory.Exists(path)
            ? Directory.GetFiles(path).Where(f => Path.GetExtension(f) is ".npy" or ".npz" or ".pb").OrderBy(f => f, StringComparer.Ordinal)
            : [path];

    // A .npy file is one array; a .npz archive holds several (in entry-name order); a .pb file is one ONNX TensorProto.
    private static List<NpyArray> Read(string path)
    {
        try
        {
            switch (Path.GetExtension(path))
            {
                case ".npz":
                    using (var zip = System.IO.Compression.ZipFile.OpenRead(path))
                    {
                        var arrays = new List<NpyArray>();
                        foreach (var entry in zip.Entries.Where(e => e.Name.EndsWith(".npy", StringComparison.Ordinal)).OrderBy(e => e.FullName, StringComparer.Ordinal))
                        {
                            using var stream = entry.Open();
                            arrays.Add(NpyReader.Read(stream, $"{path}:{entry.FullName}"));
                        }
                        return arrays;
                    }
                case ".pb":
                    var tensor = Model.Onnx.TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
                    using (var store = new Model.ExternalDataStore(Path.GetDirectoryName(Path.GetFullPath(path))))
                    {
                        var bytes = Model.TensorData.GetBytes(tensor, store);
                        return [new NpyArray(Descr(tensor.DataType, path), tensor.Dims.ToArray(), bytes.ToArray())];
                    }
                default:
                    return [NpyReader.Read(path)];
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException or Google.Protobuf.InvalidProtocolBufferException)
        {
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs, $"cannot read data: {e.Message}", path, inner: e);
        }
    }

    private static string Descr(int dataType, string path) => dataType switch
    {
        1 => "<f4",
        10 => "<f2",
        11 => "<f8",
        7 => "<i8",
        6 => "<i4",
        2 => "|u1",
        3 => "|i1",
        9 => "|b1",
        _ => throw new CompressTasksException(DiagnosticCodes.VerificationInputs, $"unsupported tensor data type {dataType}", path),
    };

    private static int ElementType(string descr, string path) => descr switch
    {
        "<f4" => 1,
        "<f2" => 10,
        "<f8" => 11,
        "<i8" => 7,
        "<i4" => 6,
        "|u1" => 2,
        "|i1" => 3,
        "|b1" => 9,
        _ => throw new CompressTasksException(DiagnosticCodes.VerificationInputs, $"unsupported data type '{descr}'", path),
    };
}
