using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;

namespace CompressTasks.Model;

/// <summary>
/// A read-only memory-mapped file exposed as <see cref="Memory{T}"/>, so tensor payloads can be slices of the file
/// itself: loading copies nothing, and saving copies each payload once, from the page cache to the output.
/// </summary>
/// <remarks>
/// The mapping lives as long as anything references this manager — every payload <c>ByteString</c> sliced from
/// <see cref="MemoryManager{T}.Memory"/> does — and the finalizer releases it once nothing does. It is never unmapped
/// eagerly, since a payload that outlived an eager unmap would read unmapped memory. The one rule for callers (the
/// reason for CA2015): a <see cref="Span{T}"/> over a payload is valid while its tensor or model is reachable, so
/// keep a reference to the model while using spans of it, as every using block over an <see cref="OnnxModel"/> does.
/// </remarks>
[SuppressMessage("Reliability", "CA2015", Justification = "See remarks: the finalizer is the only safe release point.")]
internal sealed unsafe class MappedFile : MemoryManager<byte>
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _pointer;
    private readonly int _length;

    /// <summary>The mapped file's handle, open as long as the mapping: payload ranges can be copied from it by the kernel.</summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle Handle { get; }

    // Live mappings by file: path, length and last write time, so a file replaced or rewritten since is mapped anew.
    private static readonly Dictionary<(string Path, long Length, DateTime Written), WeakReference<MappedFile>> Live = [];

    /// <summary>
    /// The mapping of the first <paramref name="length"/> bytes of the file at <paramref name="path"/>, open as
    /// <paramref name="stream"/>: an existing one when a live model still maps the same, unchanged file (the
    /// stream is then closed), else a new one that owns the stream.
    /// </summary>
    /// <remarks>
    /// Two mappings of one file share the page cache but are each counted in full in the process's resident
    /// memory; a reconstruction pass loads the original model beside the one it compresses (the teacher), which
    /// for ResNet-18 counted the same 64 MB twice.
    /// </remarks>
    public static MappedFile Open(string path, FileStream stream, int length)
    {
        var key = (Path.GetFullPath(path), (long)length, File.GetLastWriteTimeUtc(path));
        lock (Live)
        {
            if (Live.TryGetValue(key, out var existing) && existing.TryGetTarget(out var shared))
            {
                stream.Dispose();
                return shared;
            }
            foreach (var dead in Live.Where(e => !e.Value.TryGetTarget(out _)).Select(e => e.Key).ToList()) Live.Remove(dead);
            var mapped = new MappedFile(stream, length);
            Live[key] = new WeakReference<MappedFile>(mapped);
            return mapped;
        }
    }

    /// <summary>Maps the first <paramref name="length"/> bytes of <paramref name="stream"/>, which the mapping then owns.</summary>
    private MappedFile(FileStream stream, int length)
    {
        Handle = stream.SafeFileHandle;
        _file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        _view = _file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
        byte* pointer = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
        _pointer = pointer + _view.PointerOffset;
        _length = length;
    }

    ~MappedFile()
    {
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
    }

    public override Span<byte> GetSpan() => new(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex, default, this);

    public override void Unpin()
    {
    }

    // Only the finalizer releases the mapping; see the remarks.
    protected override void Dispose(bool disposing)
    {
    }
}
