using System.Globalization;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using Microsoft.Win32.SafeHandles;

namespace CompressTasks.Model;

/// <summary>
/// Reads tensor payloads kept in files beside the model (<c>external_data</c>: location, offset, length).
/// Files open on first use and stay open until disposed; payloads are read on demand, never all at once.
/// </summary>
public sealed class ExternalDataStore : IDisposable
{
    private readonly Dictionary<string, SafeFileHandle> _handles = new(StringComparer.Ordinal);

    /// <param name="baseDirectory">Directory of the model file; locations are relative to it. Null when the model came from memory.</param>
    public ExternalDataStore(string? baseDirectory) => BaseDirectory = baseDirectory;

    public string? BaseDirectory { get; }

    /// <summary>The location, offset and length (null: to the end of the file) a tensor names, checked for form only.</summary>
    public static (string Location, long Offset, long? Length) Describe(TensorProto tensor)
    {
        string? location = null;
        long offset = 0;
        long? length = null;
        foreach (var entry in tensor.ExternalData)
        {
            switch (entry.Key)
            {
                case "location": location = entry.Value; break;
                case "offset": offset = ParseNumber(tensor, entry); break;
                case "length": length = ParseNumber(tensor, entry); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new CompressTasksException(DiagnosticCodes.ExternalDataMissing, $"tensor '{tensor.Name}' is marked external but names no location");
        return (location, offset, length);
    }

    internal static long? DescribeLength(TensorProto tensor) => Describe(tensor).Length;

    /// <summary>Checks that the tensor's file exists, its location stays inside the model's directory and the range lies within the file.</summary>
    public void Validate(TensorProto tensor) => Resolve(tensor);

    /// <summary>Reads the tensor's payload into a new buffer.</summary>
    public ReadOnlyMemory<byte> Read(TensorProto tensor)
    {
        var (handle, path, offset, length) = Resolve(tensor);
        if (length > Array.MaxLength)
            throw new CompressTasksException(DiagnosticCodes.TensorDataInvalid, $"tensor '{tensor.Name}' has {length} bytes, more than one buffer can hold", path);
        var buffer = GC.AllocateUninitializedArray<byte>((int)length);
        ReadExactly(handle, buffer, offset, path);
        return buffer;
    }

    /// <summary>Streams the tensor's payload into <paramref name="destination"/> in chunks, for payloads of any size.</summary>
    public void CopyTo(TensorProto tensor, Stream destination)
    {
        var (handle, path, offset, length) = Resolve(tensor);
        var chunk = new byte[(int)Math.Min(length, 1 << 22)];
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(chunk.Length, length - done);
            ReadExactly(handle, chunk.AsMemory(0, n), offset + done, path);
            destination.Write(chunk, 0, n);
            done += n;
        }
    }

    private (SafeFileHandle Handle, string Path, long Offset, long Length) Resolve(TensorProto tensor)
    {
        var (location, offset, length) = Describe(tensor);
        if (BaseDirectory is null)
            throw new CompressTasksException(DiagnosticCodes.ExternalDataMissing, $"tensor '{tensor.Name}' has external data '{location}' but the model was not loaded from a file");
        // As onnx.checker does: external data must stay beside the model, not reach elsewhere on disk.
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw new CompressTasksException(DiagnosticCodes.ExternalDataMissing, $"tensor '{tensor.Name}' has external data location '{location}', which is outside the model's directory");
        var path = Path.Combine(BaseDirectory, location);
        if (!_handles.TryGetValue(location, out var handle))
        {
            try
            {
                handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            }
            // ArgumentException: a location with a NUL character (protobuf strings may hold one; file names may not).
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new CompressTasksException(DiagnosticCodes.ExternalDataMissing, $"tensor '{tensor.Name}' needs external data file '{location}': {e.Message}", path, inner: e);
            }
            _handles.Add(location, handle);
        }
        long fileLength = RandomAccess.GetLength(handle);
        long actual = length ?? fileLength - offset;
        if (offset < 0 || actual < 0 || offset > fileLength || actual > fileLength - offset)
            throw new CompressTasksException(DiagnosticCodes.ExternalDataOutOfRange,
                $"tensor '{tensor.Name}' reads bytes {offset}..{offset + actual} of '{location}', which has {fileLength}", path);
        return (handle, path, offset, actual);
    }

    private static void ReadExactly(SafeFileHandle handle, Memory<byte> buffer, long offset, string path)
    {
        for (int done = 0; done < buffer.Length;)
        {
            int n = RandomAccess.Read(handle, buffer.Span[done..], offset + done);
            if (n == 0) throw new CompressTasksException(DiagnosticCodes.ExternalDataOutOfRange, $"'{path}' ended early", path);
            done += n;
        }
    }

    private static long ParseNumber(TensorProto tensor, StringStringEntryProto entry)
    {
        if (long.TryParse(entry.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return n;
        throw new CompressTasksException(DiagnosticCodes.ExternalDataOutOfRange, $"tensor '{tensor.Name}' has external data {entry.Key} '{entry.Value}', which is not a non-negative integer");
    }

    public void Dispose()
    {
        foreach (var h in _handles.Values) h.Dispose();
        _handles.Clear();
    }
}
