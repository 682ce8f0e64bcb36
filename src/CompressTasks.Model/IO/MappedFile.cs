using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace CompressTasks.Model;

/// <summary>
/// A read-only memory-mapped file exposed as <see cref="Memory{T}"/>, so tensor payloads can be slices of the file
/// itself: loading copies nothing, and saving copies each payload once, from the page cache to the output. A model
/// file (under 2 GiB) is one <see cref="Memory{T}"/>; an external data file, of any length, hands out its tensors as
/// <see cref="Range"/>s (<see cref="Slice"/>).
/// </summary>
/// <remarks>
/// The mapping lives as long as anything references this manager — every payload <c>ByteString</c> sliced from
/// <see cref="MemoryManager{T}.Memory"/> does — and the finalizer releases it once nothing does. It is never unmapped
/// eagerly, since a payload that outlived an eager unmap would read unmapped memory. The one rule for callers (the
/// reason for CA2015): a <see cref="Span{T}"/> over a payload is valid while its tensor or model is reachable, so
/// keep a reference to the model while using spans of it, as every using block over an <see cref="OnnxModel"/> does.
/// </remarks>
[SuppressMessage("Reliability", "CA2015", Justification = "See remarks: the finalizer is the only safe release point.")]
internal sealed unsafe partial class MappedFile : MemoryManager<byte>
{
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _pointer;
    private readonly long _length;

    /// <summary>Bytes mapped: the file's length when it was opened.</summary>
    public long Length => _length;

    /// <summary>The mapped file's handle, open as long as the mapping: payload ranges can be copied from it by the kernel.</summary>
    public Microsoft.Win32.SafeHandles.SafeFileHandle Handle { get; }

    // Live mappings by file: path, length and last write time, so a file replaced or rewritten since is mapped anew.
    private static readonly Dictionary<(string Path, long Length, DateTime Written), WeakReference<MappedFile>> Live = [];

    /// <summary>
    /// The mapping of the first <paramref name="length"/> bytes (at least one) of the file at <paramref name="path"/>, open as
    /// <paramref name="stream"/>: an existing one when a live model still maps the same, unchanged file (the
    /// stream is then closed), else a new one that owns the stream.
    /// </summary>
    /// <remarks>
    /// Two mappings of one file share the page cache but are each counted in full in the process's resident
    /// memory; a reconstruction pass loads the original model beside the one it compresses (the teacher), which
    /// for ResNet-18 counted the same 64 MB twice.
    /// </remarks>
    public static MappedFile Open(string path, FileStream stream, long length)
    {
        var key = (Path.GetFullPath(path), length, File.GetLastWriteTimeUtc(path));
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
    private MappedFile(FileStream stream, long length)
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

    /// <summary>The whole file; only for files under 2 GiB (a model file, never a large external data file).</summary>
    public override Span<byte> GetSpan() =>
        _length <= int.MaxValue ? new(_pointer, (int)_length) : throw new InvalidOperationException("a mapping over 2 GiB is read by ranges");

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex, default, this);

    /// <summary>
    /// <paramref name="length"/> bytes from <paramref name="offset"/> (checked by the caller to lie inside the file), as
    /// memory that keeps this mapping alive.
    /// </summary>
    public ReadOnlyMemory<byte> Slice(long offset, int length)
    {
        if (offset < 0 || length < 0 || offset > _length - length) throw new ArgumentOutOfRangeException(nameof(offset));
        return new Range(this, offset, length).Memory;
    }

    public override void Unpin()
    {
    }

    // Only the finalizer releases the mapping; see the remarks.
    protected override void Dispose(bool disposing)
    {
    }

    /// <summary>
    /// Drops this process's resident pages of the mapping (Linux <c>madvise(MADV_DONTNEED)</c>; elsewhere nothing), for
    /// a model that is done with: the mapping itself stays valid, so a payload still in use, or another model sharing
    /// the mapping, reads the same bytes again from the page cache on its next touch. Without it, a disposed model's
    /// pages stay counted as the process's memory until the collector finalizes the mapping, beside ONNX Runtime's own
    /// mapping of the same file during verification.
    /// </summary>
    public void ReleasePages()
    {
        long page = Environment.SystemPageSize;
        // madvise wants a page-aligned start; the view itself starts on a page (PointerOffset is 0 for offset 0).
        long start = (long)_pointer & ~(page - 1);
        Release(start, (long)_pointer + _length);
    }

    /// <summary>
    /// As <see cref="ReleasePages()"/> for the whole pages within <paramref name="length"/> bytes at
    /// <paramref name="offset"/>: one payload done with (a weight read before it is replaced), while its neighbours,
    /// which may share its first and last page, stay.
    /// </summary>
    public void ReleasePages(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset + length > _length) throw new ArgumentOutOfRangeException(nameof(offset));
        long page = Environment.SystemPageSize;
        long from = ((long)_pointer + offset + page - 1) & ~(page - 1), to = ((long)_pointer + offset + length) & ~(page - 1);
        if (to > from) Release(from, to);
    }

    private static void Release(long from, long to)
    {
        if (_noAdvice) return;
        const int DontNeed = 4;
        try
        {
            Advise((nint)from, (nuint)(to - from), DontNeed);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            _noAdvice = true;
        }
    }

    private static bool _noAdvice = !OperatingSystem.IsLinux();

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int Advise(nint address, nuint length, int advice);

    /// <summary>A part of a mapping, referencing it: the mapping lives while any range of it does.</summary>
    internal sealed class Range(MappedFile file, long offset, int length) : MemoryManager<byte>
    {
        /// <summary>The mapping this range is part of.</summary>
        public MappedFile File { get; } = file;

        /// <summary>Where the range starts in the file.</summary>
        public long Offset { get; } = offset;

        public override Span<byte> GetSpan() => new(File._pointer + Offset, length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(File._pointer + Offset + elementIndex, default, this);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
