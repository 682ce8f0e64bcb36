using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using CompressTasks.Model.Wire;

namespace CompressTasks.Model;

/// <summary>
/// An ONNX model in memory: the protobuf tree (tensor payloads kept as slices of the file's bytes, never
/// parsed element by element) plus access to tensors stored in external files beside it.
/// </summary>
public sealed class OnnxModel : IDisposable
{
    /// <summary>Protobuf messages cannot exceed 2 GiB; larger models must keep tensors in external files.</summary>
    public const long ProtobufLimit = int.MaxValue;

    /// <summary>Files from this size on are memory-mapped rather than read; below it a read is cheaper than a mapping.</summary>
    private const long MapThreshold = 1 << 20;

    // The file's mapping, when it was mapped: its pages are dropped on Dispose.
    private MappedFile? _mapped;

    private OnnxModel(ModelProto proto, string? sourcePath)
    {
        Proto = proto;
        SourcePath = sourcePath;
        ExternalData = new ExternalDataStore(sourcePath is null ? null : Path.GetDirectoryName(Path.GetFullPath(sourcePath)));
    }

    /// <summary>The model's protobuf tree. Passes edit it in place (through the graph IR).</summary>
    public ModelProto Proto { get; }

    /// <summary>The file the model was loaded from, if any.</summary>
    public string? SourcePath { get; }

    /// <summary>Reader for tensors kept in external files, relative to <see cref="SourcePath"/>.</summary>
    public ExternalDataStore ExternalData { get; }

    /// <summary>Wraps a model built in memory (tests, generators).</summary>
    public static OnnxModel FromProto(ModelProto proto) => new(proto, null);

    /// <summary>
    /// Loads a model file. Throws <see cref="CompressTasksException"/> with CT0101 (missing), CT0102 (malformed),
    /// CT0103 (over 2 GiB), CT0104/CT0105 (bad external data references), CT0106 (nesting too deep).
    /// Files of 1 MiB and more are memory-mapped: payload spans are valid while the model is reachable, and the
    /// file must not be rewritten in place while the model is in use (replacing it by rename is fine). Loading a
    /// file that a live model already maps shares that mapping (see <see cref="MappedFile.Open"/>).
    /// </summary>
    public static OnnxModel Load(string path)
    {
        ReadOnlyMemory<byte> bytes;
        MappedFile? mapped = null;
        try
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
            long length = stream.Length;
            if (length > ProtobufLimit)
            {
                stream.Dispose();
                throw new CompressTasksException(DiagnosticCodes.ModelTooLarge,
                    $"the model file is {length} bytes, over protobuf's 2 GiB limit; large models must keep tensors as external data", path);
            }
            if (length >= MapThreshold)
            {
                // Payloads become slices of the mapped file: nothing is copied at load (see MappedFile's remarks).
                mapped = MappedFile.Open(path, stream, length);
                bytes = mapped.Memory;
            }
            else
            {
                using (stream)
                {
                    var buffer = GC.AllocateUninitializedArray<byte>((int)length);
                    stream.ReadExactly(buffer);
                    bytes = buffer;
                }
            }
        }
        // ArgumentException: an empty path or one with a NUL character, which cannot name a file either.
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CompressTasksException(DiagnosticCodes.ModelNotFound, $"cannot read model: {e.Message}", path, inner: e);
        }
        var model = Parse(bytes, path);
        model._mapped = mapped;
        return model;
    }

    /// <summary>
    /// Parses a model from bytes. The model keeps referencing <paramref name="bytes"/> (zero copy), so the
    /// caller must not change them afterwards. <paramref name="sourcePath"/> resolves external data and names errors.
    /// </summary>
    public static OnnxModel Parse(ReadOnlyMemory<byte> bytes, string? sourcePath = null)
    {
        if (bytes.IsEmpty)
            throw new CompressTasksException(DiagnosticCodes.ModelMalformed, "not a valid ONNX model: the file is empty", sourcePath);
        var proto = HollowParser.Parse(bytes, sourcePath);
        if (proto.Graph is null)
            throw new CompressTasksException(DiagnosticCodes.ModelMalformed, "not a valid ONNX model: it has no graph", sourcePath);
        var model = new OnnxModel(proto, sourcePath);
        try
        {
            TensorVisitor.ForEachTensor(proto, t =>
            {
                if (TensorData.IsExternal(t)) model.ExternalData.Validate(t);
            });
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>The dense little-endian payload of a tensor of this model, wherever it is stored.</summary>
    public ReadOnlyMemory<byte> GetTensorBytes(TensorProto tensor) => TensorData.GetBytes(tensor, ExternalData);

    /// <summary>
    /// Writes the model atomically: to temporary files beside <paramref name="path"/>, then renamed into place,
    /// so a reader never sees a partial model. The in-memory model is not changed.
    /// </summary>
    public void Save(string path, SaveOptions? options = null) => ModelWriter.Save(this, path, options ?? new SaveOptions());

    /// <summary>
    /// Drops the resident pages of the model file's mapping (<see cref="MappedFile.ReleasePages()"/>): the payloads
    /// stay readable, from the page cache, and only what is read next becomes resident again.
    /// </summary>
    public void ReleasePages() => _mapped?.ReleasePages();

    /// <summary>
    /// Closes external data and drops the resident pages of the model's mapped files; payloads still referenced stay
    /// readable (see <see cref="MappedFile.ReleasePages()"/>).
    /// </summary>
    public void Dispose()
    {
        ExternalData.Dispose();
        _mapped?.ReleasePages();
    }
}
