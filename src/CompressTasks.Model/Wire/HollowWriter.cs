using System.Buffers;
using System.Runtime.InteropServices;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Microsoft.Win32.SafeHandles;

namespace CompressTasks.Model.Wire;

/// <summary>
/// Serializes a model to a file with the same bytes as <c>model.WriteTo(stream)</c>, but hands the large payloads of
/// the main graph's initializers that are slices of a memory-mapped source file to the kernel
/// (<see cref="KernelCopy"/>), so they go from the page cache to the output without passing through user space: the
/// mirror image of <see cref="HollowParser"/>. Everything else is serialized by the generated code.
/// </summary>
/// <remarks>
/// Protobuf writes a message's known fields in field-number order, then its unknown fields. So a message with one
/// field taken out serializes as [fields before it][fields after it][unknown fields], and the field goes back in at
/// the first top-level field that is unknown or numbered after it: ModelProto.graph (7), GraphProto.initializer (5),
/// and the one payload field of each TensorProto (4, 5, 7, 9, 10 or 11). Length prefixes come from
/// <see cref="IMessage.CalculateSize"/>, which counts payloads without touching their bytes.
/// </remarks>
internal sealed class HollowWriter : IDisposable
{
    /// <summary>Payloads from this size on are written straight from where they are (by the kernel when mapped); smaller ones through the buffer.</summary>
    private const int DirectThreshold = 1 << 16;

    private const int GraphField = 7;
    private const int InitializerField = 5;

    private readonly SafeFileHandle _output;
    /// <summary>Skeleton bytes are gathered up to this size before one write.</summary>
    private const int PendingLimit = 1 << 20;

    private readonly ArrayBufferWriter<byte> _pending = new(PendingLimit);
    private long _offset;

    private HollowWriter(SafeFileHandle output) => _output = output;

    /// <summary>Writes <paramref name="model"/> to <paramref name="output"/> from its start. The model is restored before this returns.</summary>
    public static void Write(ModelProto model, SafeFileHandle output)
    {
        using var writer = new HollowWriter(output);
        if (model.Graph is not { } graph)
        {
            writer.Whole(model);
            return;
        }
        writer.Around(model, GraphField, () => model.Graph = null, () => model.Graph = graph, () =>
        {
            writer.Tag(GraphField);
            writer.Varint((ulong)graph.CalculateSize());
            writer.Graph(graph);
        });
    }

    private void Graph(GraphProto graph)
    {
        var initializers = graph.Initializer.ToArray();
        Around(graph, InitializerField, () => graph.Initializer.Clear(), () => graph.Initializer.Add(initializers), () =>
        {
            foreach (var tensor in initializers)
            {
                Tag(InitializerField);
                Varint((ulong)tensor.CalculateSize());
                Tensor(tensor);
            }
        });
    }

    private void Tensor(TensorProto tensor)
    {
        var (field, payload) = LargestPayload(tensor);
        if (payload is null || payload.Length < DirectThreshold)
        {
            Whole(tensor);
            return;
        }
        Around(tensor, field, () => SetPayload(tensor, field, null), () => SetPayload(tensor, field, payload), () =>
        {
            Tag(field);
            Varint((ulong)payload.Length);
            Payload(payload);
        });
    }

    // Serializes `message` without one field, and writes that field (by `writeField`) where protobuf would have.
    private void Around(IMessage message, int field, Action remove, Action restore, Action writeField)
    {
        // The shell goes into a rented buffer: for a graph of Constant nodes it is most of the model.
        byte[] shell;
        int size;
        remove();
        try
        {
            size = message.CalculateSize();
            shell = ArrayPool<byte>.Shared.Rent(size);
            message.WriteTo(shell.AsSpan(0, size));
        }
        finally { restore(); }
        try
        {
            int split = SplitPoint(shell, size, field, message.Descriptor);
            Skeleton(shell.AsSpan(0, split));
            writeField();
            Skeleton(shell.AsSpan(split, size - split));
        }
        finally { ArrayPool<byte>.Shared.Return(shell); }
    }

    // A message with nothing to take out, serialized straight into the pending buffer when it fits.
    private void Whole(IMessage message)
    {
        int size = message.CalculateSize();
        if (_pending.WrittenCount + size > PendingLimit) Flush();
        if (size > PendingLimit)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
            try
            {
                message.WriteTo(buffer.AsSpan(0, size));
                Skeleton(buffer.AsSpan(0, size));
            }
            finally { ArrayPool<byte>.Shared.Return(buffer); }
            return;
        }
        message.WriteTo(_pending.GetSpan(size)[..size]);
        _pending.Advance(size);
    }

    // The offset of the first top-level field numbered after `field` or unknown to the message's descriptor.
    private static int SplitPoint(byte[] bytes, int length, int field, MessageDescriptor descriptor)
    {
        var input = new CodedInputStream(bytes, 0, length);
        while (!input.IsAtEnd)
        {
            int start = (int)input.Position;
            uint tag = input.ReadTag();
            int number = WireFormat.GetTagFieldNumber(tag);
            if (number > field || descriptor.FindFieldByNumber(number) is null) return start;
            input.SkipLastField();
        }
        return length;
    }

    private static (int Field, ByteString? Payload) LargestPayload(TensorProto t)
    {
        if (t.HasRawData) return (9, t.RawData);
        if (t.HasFloatData) return (4, t.FloatData);
        if (t.HasInt32Data) return (5, t.Int32Data);
        if (t.HasInt64Data) return (7, t.Int64Data);
        if (t.HasDoubleData) return (10, t.DoubleData);
        if (t.HasUint64Data) return (11, t.Uint64Data);
        return (0, null);
    }

    private static void SetPayload(TensorProto t, int field, ByteString? value)
    {
        switch (field)
        {
            case 9: if (value is null) t.ClearRawData(); else t.RawData = value; break;
            case 4: if (value is null) t.ClearFloatData(); else t.FloatData = value; break;
            case 5: if (value is null) t.ClearInt32Data(); else t.Int32Data = value; break;
            case 7: if (value is null) t.ClearInt64Data(); else t.Int64Data = value; break;
            case 10: if (value is null) t.ClearDoubleData(); else t.DoubleData = value; break;
            default: if (value is null) t.ClearUint64Data(); else t.Uint64Data = value; break;
        }
    }

    // Where a payload lies in a mapped file: a slice of a model's mapping, or of a range of an external data file.
    private static bool IsMapped(ByteString payload, out MappedFile file, out long start)
    {
        if (MemoryMarshal.TryGetMemoryManager(payload.Memory, out file!, out int at, out _))
        {
            start = at;
            return true;
        }
        if (MemoryMarshal.TryGetMemoryManager(payload.Memory, out MappedFile.Range? range, out at, out _))
        {
            (file, start) = (range!.File, range.Offset + at);
            return true;
        }
        start = 0;
        return false;
    }

    private void Payload(ByteString payload)
    {
        Flush();
        if (!IsMapped(payload, out var file, out long start) || !KernelCopy.TryCopy(file.Handle, start, _output, _offset, payload.Length))
            RandomAccess.Write(_output, payload.Span, _offset);
        _offset += payload.Length;
    }

    private void Tag(int field) => Varint((ulong)WireFormat.MakeTag(field, WireFormat.WireType.LengthDelimited));

    private void Varint(ulong value)
    {
        var span = _pending.GetSpan(10);
        int n = 0;
        for (; value >= 0x80; value >>= 7) span[n++] = (byte)(value | 0x80);
        span[n++] = (byte)value;
        _pending.Advance(n);
    }

    private void Skeleton(ReadOnlySpan<byte> bytes)
    {
        if (_pending.WrittenCount + bytes.Length > PendingLimit) Flush();
        if (bytes.Length >= PendingLimit)
        {
            RandomAccess.Write(_output, bytes, _offset);
            _offset += bytes.Length;
            return;
        }
        _pending.Write(bytes);
    }

    private void Flush()
    {
        if (_pending.WrittenCount == 0) return;
        RandomAccess.Write(_output, _pending.WrittenSpan, _offset);
        _offset += _pending.WrittenCount;
        _pending.ResetWrittenCount();
    }

    public void Dispose() => Flush();
}
