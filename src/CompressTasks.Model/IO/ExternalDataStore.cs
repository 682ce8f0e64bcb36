using System.Globalization;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Model;

/// <summary>
/// Reads tensor payloads kept in files beside the model (<c>external_data</c>: location, offset, length).
/// Files are memory-mapped on first use (<see cref="MappedFile"/>, shared with any live model mapping the same
/// unchanged file), so a payload is a range of the mapping: reading one copies nothing, and its pages are the page
/// cache's, which the system can reclaim, not the process's own memory. A copy was a fresh buffer per read, and a
/// 2.5 GB model read once by a pass and once by the report held about twice its size of such garbage.
/// </summary>
/// <remarks>
/// Spans over payloads follow <see cref="MappedFile"/>'s rule: valid while the tensor or the model is reachable.
/// Disposing the store closes nothing a payload still uses; a mapping is released once no range of it is referenced.
/// </remarks>
public sealed class ExternalDataStore : IDisposable
{
    private readonly Dictionary<string, MappedFile?> _files = new(StringComparer.Ordinal);

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

    /// <summary>The tensor's payload: a range of the mapped file (no copy).</summary>
    public ReadOnlyMemory<byte> Read(TensorProto tensor)
    {
        var (file, path, offset, length) = Resolve(tensor);
        if (length > Array.MaxLength)
            throw new CompressTasksException(DiagnosticCodes.TensorDataInvalid, $"tensor '{tensor.Name}' has {length} bytes, more than one buffer can hold", path);
        return length == 0 ? ReadOnlyMemory<byte>.Empty : file!.Slice(offset, (int)length);
    }

    /// <summary>
    /// Copies the tensor's payload, of any size, to the end of <paramref name="destination"/>: inside the kernel where
    /// the system can (<see cref="KernelCopy"/>), else through the mapping.
    /// </summary>
    public void CopyTo(TensorProto tensor, FileStream destination)
    {
        var (file, _, offset, length) = Resolve(tensor);
        if (length == 0) return;
        destination.Flush();
        long at = destination.Position;
        if (KernelCopy.TryCopy(file!.Handle, offset, destination.SafeFileHandle, at, length))
        {
            destination.Position = at + length;
            return;
        }
        for (long done = 0; done < length;)
        {
            int n = (int)Math.Min(1 << 30, length - done);
            destination.Write(file.Slice(offset + done, n).Span);
            done += n;
        }
    }

    private (MappedFile? File, string Path, long Offset, long Length) Resolve(TensorProto tensor)
    {
        var (location, offset, length) = Describe(tensor);
        if (BaseDirectory is null)
            throw new CompressTasksException(DiagnosticCodes.ExternalDataMissing, $"tensor '{tensor.Name}' has external data '{location}' but the model was not loaded from a file");
        // As onnx.checker does: external data must stay beside the model, not reach elsewhere on disk.
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw new CompressTasksException(DiagnosticCodes.ExternalDataMissing, $"tensor '{tensor.Name}' has external data location '{location}', which is outside the model's directory");
        var path = Path.Combine(BaseDirectory, location);
        if (!_files.TryGetValue(location, out var file))
        {
            try
            {
                var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
                try
                {
                    long size = stream.Length;
                    // An empty file cannot be mapped; it holds nothing to read either (any non-empty range is refused below).
                    if (size == 0) stream.Dispose();
                    file = size == 0 ? null : MappedFile.Open(path, stream, size);
                }
                catch
                {
                    stream.Dispose();
                    throw;
                }
            }
            // ArgumentException: a location with a NUL character (protobuf strings may hold one; file names may not).
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw new CompressTasksException(DiagnosticCodes.ExternalDataMissing, $"tensor '{tensor.Name}' needs external data file '{location}': {e.Message}", path, inner: e);
            }
            _files.Add(location, file);
        }
        // The file's length now, not when it was mapped: a mapped page past the end of a file that shrank since would
        // fault on first touch instead of reading short, so a truncated file is refused here (writing it in place while
        // a model uses it is otherwise unsupported, as for the model file itself).
        long fileLength = file is null ? 0 : Math.Min(file.Length, RandomAccess.GetLength(file.Handle));
        long actual = length ?? fileLength - offset;
        if (offset < 0 || actual < 0 || offset > fileLength || actual > fileLength - offset)
            throw new CompressTasksException(DiagnosticCodes.ExternalDataOutOfRange,
                $"tensor '{tensor.Name}' reads bytes {offset}..{offset + actual} of '{location}', which has {fileLength}", path);
        return (file, path, offset, actual);
    }

    private static long ParseNumber(TensorProto tensor, StringStringEntryProto entry)
    {
        if (long.TryParse(entry.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)) return n;
        throw new CompressTasksException(DiagnosticCodes.ExternalDataOutOfRange, $"tensor '{tensor.Name}' has external data {entry.Key} '{entry.Value}', which is not a non-negative integer");
    }

    /// <summary>
    /// Forgets the files and drops their resident pages (<see cref="MappedFile.ReleasePages"/>); the mappings stay until
    /// no payload references them (MappedFile's finalizer), so a payload still held reads the same bytes again.
    /// </summary>
    public void Dispose()
    {
        foreach (var file in _files.Values) file?.ReleasePages();
        _files.Clear();
    }
}
