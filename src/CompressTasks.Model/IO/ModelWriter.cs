using System.Globalization;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using CompressTasks.Model.Wire;
using Google.Protobuf;

namespace CompressTasks.Model;

/// <summary>
/// Writes models atomically: the model (and its external data file, if any) go to temporary files in the
/// destination directory, then are renamed over the destination (no fsync: like the build's own copies, we guard
/// against readers seeing partial files and against crashed processes, not against power loss). Output bytes depend only on the model
/// and the options, so the same inputs always give the same files.
/// </summary>
internal static class ModelWriter
{
    public static void Save(OnnxModel model, string path, SaveOptions options)
    {
        string fullPath;
        try
        {
            fullPath = Path.GetFullPath(path);
        }
        catch (ArgumentException e)
        {
            throw new CompressTasksException(DiagnosticCodes.ModelWriteFailed, $"cannot write model to '{path}': {e.Message}", path, inner: e);
        }
        var directory = Path.GetDirectoryName(fullPath)!;
        var originals = new List<TensorProto>();
        TensorVisitor.ForEachTensor(model.Proto, originals.Add);
        var external = Place(originals, options, fullPath);

        // Write from a shallow clone: payload ByteStrings are shared, only the few edited fields differ,
        // and the caller's model stays as it was.
        var clone = model.Proto.Clone();
        var copies = new List<TensorProto>(originals.Count);
        TensorVisitor.ForEachTensor(clone, copies.Add);

        string? dataName = external.Contains(true) ? options.DataFileName ?? Path.GetFileName(fullPath) + ".data" : null;
        string tempModel = TempName(fullPath);
        string? tempData = dataName is null ? null : TempName(Path.Combine(directory, dataName));
        try
        {
            Directory.CreateDirectory(directory);
            if (dataName is not null)
            {
                using var data = new FileStream(tempData!, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
                for (int i = 0; i < originals.Count; i++)
                {
                    if (!external[i]) continue;
                    long offset = AlignUp(data.Position, options.Alignment);
                    for (long pad = data.Position; pad < offset; pad++) data.WriteByte(0);
                    var original = originals[i];
                    if (TensorData.IsExternal(original)) model.ExternalData.CopyTo(original, data);
                    else data.Write(model.GetTensorBytes(original).Span);
                    long length = data.Position - offset;
                    var copy = copies[i];
                    TensorData.ClearPayload(copy);
                    copy.DataLocation = TensorProto.Types.DataLocation.External;
                    copy.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                    copy.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(CultureInfo.InvariantCulture) });
                    copy.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(CultureInfo.InvariantCulture) });
                }
                data.Flush();
            }
            for (int i = 0; i < originals.Count; i++)
            {
                if (!external[i] && TensorData.IsExternal(originals[i]))
                    TensorData.SetBytes(copies[i], model.GetTensorBytes(originals[i]));
            }
            using (var output = File.OpenHandle(tempModel, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                HollowWriter.Write(clone, output);
            }
            if (dataName is not null) File.Move(tempData!, Path.Combine(directory, dataName), overwrite: true);
            File.Move(tempModel, fullPath, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidProtocolBufferException or ArgumentException)
        {
            throw new CompressTasksException(DiagnosticCodes.ModelWriteFailed, $"cannot write model: {e.Message}", fullPath, inner: e);
        }
        finally
        {
            TryDelete(tempModel);
            if (tempData is not null) TryDelete(tempData);
        }
    }

    /// <summary>Decides, per tensor, whether it is written to external data.</summary>
    private static bool[] Place(List<TensorProto> tensors, SaveOptions options, string path)
    {
        var external = new bool[tensors.Count];
        var sizes = new long[tensors.Count];
        long inline = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            var t = tensors[i];
            sizes[i] = TensorData.StoredByteCount(t);
            bool movable = t.DataType != (int)TensorProto.Types.DataType.String;
            external[i] = movable && options.ExternalData switch
            {
                ExternalDataPolicy.Keep => TensorData.IsExternal(t),
                ExternalDataPolicy.All => TensorData.IsExternal(t) || sizes[i] >= options.SizeThreshold,
                _ => false,
            };
            if (!external[i]) inline += sizes[i];
        }
        if (inline <= options.InlineLimit) return external;
        if (options.ExternalData == ExternalDataPolicy.None)
            throw new CompressTasksException(DiagnosticCodes.ModelWriteFailed,
                $"the model holds {inline} bytes of tensors inline, over protobuf's 2 GiB limit; save with external data", path);
        // Move the largest tensors out first: fewest references for the most bytes.
        var order = Enumerable.Range(0, tensors.Count)
            .Where(i => !external[i] && sizes[i] >= options.SizeThreshold && tensors[i].DataType != (int)TensorProto.Types.DataType.String)
            .OrderByDescending(i => sizes[i]).ThenBy(i => i);
        foreach (var i in order)
        {
            if (inline <= options.InlineLimit) break;
            external[i] = true;
            inline -= sizes[i];
        }
        if (inline > options.InlineLimit)
            throw new CompressTasksException(DiagnosticCodes.ModelWriteFailed, "the model's inline part stays over 2 GiB even with every large tensor external", path);
        return external;
    }

    private static long AlignUp(long value, int alignment) => alignment <= 1 ? value : (value + alignment - 1) / alignment * alignment;

    private static string TempName(string destination) =>
        Path.Combine(Path.GetDirectoryName(destination)!, $".{Path.GetFileName(destination)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
