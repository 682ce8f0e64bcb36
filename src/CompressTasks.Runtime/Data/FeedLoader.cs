using System.IO.Compression;
using CompressTasks.Diagnostics;

namespace CompressTasks.Runtime.Data;

/// <summary>
/// Turns calibration or evaluation data into session feeds. One model input: a <c>.npy</c> file whose first axis is
/// the sample axis, a <c>.npz</c> archive of such arrays, an ONNX <c>TensorProto</c> <c>.pb</c> file, or a folder of
/// any of them (read in name order and concatenated in that order); rows go in batches of <c>batchSize</c> (or the
/// input's fixed first dimension). Several inputs: a <c>.npz</c> whose array names are the input names, one file per
/// input (<see cref="DataSource.PerInput"/>), rows batched together; or, for any model, a folder of sample folders in
/// the ONNX test-data layout (<c>test_data_set_*/input_N.pb</c>, each folder one feed as stored, a tensor matched to
/// an input by its name or else by N). An input with no data is CT3010, data for an input the model lacks CT3011.
/// </summary>
public static class FeedLoader
{
    /// <summary>Feeds from one data file or folder (see the class remarks).</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, TensorValue>> Load(string path, IReadOnlyList<TensorInfo> inputs, int maxRows, int batchSize = 50) =>
        Load(DataSource.FromPath(path), inputs, maxRows, batchSize);

    /// <summary>Feeds for a session with <paramref name="inputs"/>, at most <paramref name="maxRows"/> rows in all.</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, TensorValue>> Load(DataSource source, IReadOnlyList<TensorInfo> inputs, int maxRows, int batchSize = 50)
    {
        if (source.Path is not { } path)
        {
            var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
            foreach (var (name, file) in source.Inputs)
            {
                if (!inputs.Any(i => i.Name == name))
                    throw new CompressTasksException(DiagnosticCodes.DataInputUnknown,
                        $"data are given for input '{name}', which the model does not have (its inputs: {Names(inputs)})", file);
                arrays[name] = Concatenate(Files(file).SelectMany(Read).ToList(), file);
            }
            return Batches(arrays, inputs, maxRows, batchSize, source.ToString());
        }
        if (SampleFolders(path) is { Count: > 0 } samples) return Samples(samples, inputs, maxRows, path);
        if (inputs.Count == 1) return Rows(path, inputs[0], maxRows, batchSize);
        if (Path.GetExtension(path) == ".npz") return Batches(ReadNamed(path), inputs, maxRows, batchSize, path);
        throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
            $"this model has {inputs.Count} inputs ({Names(inputs)}): give an .npz whose arrays are named after them, a folder of "
            + "test_data_set_* folders holding input_N.pb files, or one file per input in the recipe (calibration: { name: file, … })", path);
    }

    // One input: every array of every file, in order, cut into batches (a batch never spans two arrays).
    private static List<IReadOnlyDictionary<string, TensorValue>> Rows(string path, TensorInfo input, int maxRows, int batchSize)
    {
        var arrays = Files(path).SelectMany(Read).ToList();
        int elementType = Check(arrays[0], input, path);
        var rowShape = arrays[0].Shape[1..];
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

    // Several inputs, one array each, rows aligned: row r of every array is one sample.
    private static List<IReadOnlyDictionary<string, TensorValue>> Batches(Dictionary<string, NpyArray> arrays, IReadOnlyList<TensorInfo> inputs,
        int maxRows, int batchSize, string where)
    {
        foreach (var input in inputs)
        {
            if (!arrays.ContainsKey(input.Name))
                throw new CompressTasksException(DiagnosticCodes.DataInputMissing,
                    $"the data hold nothing for input '{input.Name}' (they hold: {string.Join(", ", arrays.Keys)}; the model's inputs: {Names(inputs)})", where);
            Check(arrays[input.Name], input, where);
            if (input.Shape.Length > 0 && input.Shape[0] > 0) batchSize = (int)input.Shape[0];
        }
        long count = arrays[inputs[0].Name].Shape[0];
        foreach (var input in inputs)
            if (arrays[input.Name].Shape[0] != count)
                throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                    $"input '{input.Name}' has {arrays[input.Name].Shape[0]} rows but '{inputs[0].Name}' has {count}; every input needs one row per sample", where);
        var feeds = new List<IReadOnlyDictionary<string, TensorValue>>();
        for (long start = 0; start + batchSize <= count && start + batchSize <= maxRows; start += batchSize)
        {
            var feed = new Dictionary<string, TensorValue>(StringComparer.Ordinal);
            foreach (var input in inputs)
            {
                var array = arrays[input.Name];
                long rowBytes = array.Data.Length / Math.Max(1, array.Shape[0]);
                var bytes = array.Data.AsSpan((int)(start * rowBytes), (int)(batchSize * rowBytes)).ToArray();
                feed[input.Name] = new(ElementType(array.Descr, where), [batchSize, .. array.Shape[1..]], bytes);
            }
            feeds.Add(feed);
        }
        if (feeds.Count == 0)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs, $"no full batch of {batchSize} rows in the data", where);
        return feeds;
    }

    // The ONNX test-data layout: each sample folder is one feed, its input_N.pb tensors fed as stored.
    private static List<IReadOnlyDictionary<string, TensorValue>> Samples(IReadOnlyList<string> folders, IReadOnlyList<TensorInfo> inputs, int maxRows, string path)
    {
        var feeds = new List<IReadOnlyDictionary<string, TensorValue>>();
        int rows = 0;
        foreach (var folder in folders)
        {
            var feed = new Dictionary<string, TensorValue>(StringComparer.Ordinal);
            foreach (var file in Directory.GetFiles(folder, "input_*.pb"))
            {
                var tensor = Model.Onnx.TensorProto.Parser.ParseFrom(File.ReadAllBytes(file));
                var stem = Path.GetFileNameWithoutExtension(file);
                var input = inputs.FirstOrDefault(i => i.Name == tensor.Name)
                    ?? (int.TryParse(stem.AsSpan("input_".Length), out int n) && n < inputs.Count ? inputs[n] : null)
                    ?? throw new CompressTasksException(DiagnosticCodes.DataInputUnknown,
                        $"{stem}.pb matches no model input by name ('{tensor.Name}') or position (the model's inputs: {Names(inputs)})", file);
                var array = Read(file).Single();
                if (array.Shape.Length != input.Shape.Length)
                    throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                        $"{stem}.pb has shape [{string.Join(", ", array.Shape)}] but input '{input.Name}' has rank {input.Shape.Length}", file);
                feed[input.Name] = new(CheckType(array, input, file), array.Shape, array.Data);
            }
            foreach (var input in inputs)
                if (!feed.ContainsKey(input.Name))
                    throw new CompressTasksException(DiagnosticCodes.DataInputMissing,
                        $"sample folder '{Path.GetFileName(folder)}' has no input_N.pb for input '{input.Name}' (the model's inputs: {Names(inputs)})", folder);
            rows += feed[inputs[0].Name].Shape is [> 0 and var first, ..] ? (int)first : 1;
            if (rows > maxRows && feeds.Count > 0) break;
            feeds.Add(feed);
        }
        return feeds;
    }

    // A folder holding no data files but sample folders with input_*.pb in them; empty otherwise.
    private static List<string> SampleFolders(string path)
    {
        if (!Directory.Exists(path) || Files(path).Any()) return [];
        return [.. Directory.GetDirectories(path).Where(d => Directory.GetFiles(d, "input_*.pb").Length > 0).Order(StringComparer.Ordinal)];
    }

    // The arrays of an .npz, by entry name without ".npy".
    private static Dictionary<string, NpyArray> ReadNamed(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        var arrays = new Dictionary<string, NpyArray>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries.Where(e => e.Name.EndsWith(".npy", StringComparison.Ordinal)))
        {
            using var stream = entry.Open();
            arrays[entry.FullName[..^".npy".Length]] = NpyReader.Read(stream, $"{path}:{entry.FullName}");
        }
        return arrays;
    }

    // Several arrays of one input (a folder, an .npz) joined along the sample axis.
    private static NpyArray Concatenate(List<NpyArray> arrays, string path)
    {
        if (arrays.Count == 1) return arrays[0];
        if (arrays.Count == 0) throw new CompressTasksException(DiagnosticCodes.VerificationInputs, "no .npy/.npz/.pb data found", path);
        var first = arrays[0];
        if (arrays.Any(a => a.Descr != first.Descr || !a.Shape.AsSpan(1).SequenceEqual(first.Shape.AsSpan(1))))
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs, "the arrays differ in type or row shape and cannot be joined", path);
        var data = new byte[arrays.Sum(a => (long)a.Data.Length)];
        long offset = 0;
        foreach (var a in arrays)
        {
            a.Data.CopyTo(data, offset);
            offset += a.Data.Length;
        }
        return new NpyArray(first.Descr, [arrays.Sum(a => a.Shape[0]), .. first.Shape[1..]], data);
    }

    // The data's element type, checked against the input's along with its rank.
    private static int Check(NpyArray array, TensorInfo input, string path)
    {
        var rowShape = array.Shape[1..];
        if (rowShape.Length + 1 != input.Shape.Length)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                $"data rows have shape [{string.Join(", ", rowShape)}] but input '{input.Name}' has rank {input.Shape.Length}", path);
        return CheckType(array, input, path);
    }

    private static int CheckType(NpyArray array, TensorInfo input, string path)
    {
        int elementType = ElementType(array.Descr, path);
        if (elementType != input.ElementType)
            throw new CompressTasksException(DiagnosticCodes.VerificationInputs,
                $"data has element type {elementType} but input '{input.Name}' takes {input.ElementType}", path);
        return elementType;
    }

    private static string Names(IReadOnlyList<TensorInfo> inputs) => string.Join(", ", inputs.Select(i => i.Name));

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
                    using (var zip = ZipFile.OpenRead(path))
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
