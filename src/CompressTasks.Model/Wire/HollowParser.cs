using System.Buffers;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using Google.Protobuf;

namespace CompressTasks.Model.Wire;

/// <summary>
/// Parses a <see cref="ModelProto"/> from one buffer without copying tensor payloads.
/// </summary>
/// <remarks>
/// The generated parser copies every bytes field it reads. For a model that is mostly weights that
/// copy (plus zeroing the new arrays) costs as much as reading the file, so instead:
/// <list type="number">
/// <item>walk the wire format along the paths that can hold tensors (model → graph → node → attribute →
///   tensor, functions, training info, sparse tensors), copying every structural byte into a small
///   "skeleton" buffer but replacing each tensor payload field (raw_data and the packed typed fields) of
///   12 bytes or more by a 12-byte placeholder <c>magic ‖ index</c>, re-encoding enclosing lengths;</item>
/// <item>parse the skeleton with the generated code (cheap: it is a few KB to a few MB);</item>
/// <item>swap every placeholder for a zero-copy <see cref="ByteString"/> over the original buffer.</item>
/// </list>
/// Every payload of 12 bytes or more is replaced, so a 12-byte payload that begins with the magic after
/// parsing is always a placeholder. Subtrees without payloads are copied verbatim.
/// </remarks>
internal static class HollowParser
{
    /// <summary>Nesting limit for messages along tensor paths (protobuf's own default is 100).</summary>
    public const int MaxDepth = 100;

    private const int PlaceholderLength = 12;
    private static ReadOnlySpan<byte> Magic => "\0CTpyld\u0001"u8;

    private enum Kind : byte { Other, Model, Graph, Node, Attribute, Tensor, SparseTensor, TrainingInfo, Function }

    // Which length-delimited field of which message leads to a message that may contain tensors.
    private static Kind ChildKind(Kind parent, int field) => (parent, field) switch
    {
        (Kind.Model, 7) => Kind.Graph,
        (Kind.Model, 20) => Kind.TrainingInfo,
        (Kind.Model, 25) => Kind.Function,
        (Kind.Graph, 1) => Kind.Node,
        (Kind.Graph, 5) => Kind.Tensor,
        (Kind.Graph, 15) => Kind.SparseTensor,
        (Kind.Node, 5) => Kind.Attribute,
        (Kind.Attribute, 5 or 10) => Kind.Tensor,
        (Kind.Attribute, 6 or 11) => Kind.Graph,
        (Kind.Attribute, 22 or 23) => Kind.SparseTensor,
        (Kind.SparseTensor, 1 or 2) => Kind.Tensor,
        (Kind.TrainingInfo, 1 or 2) => Kind.Graph,
        (Kind.Function, 7) => Kind.Node,
        (Kind.Function, 11) => Kind.Attribute,
        _ => Kind.Other,
    };

    // TensorProto fields whose value is a payload: float_data, int32_data, int64_data, raw_data, double_data, uint64_data.
    private static bool IsPayloadField(int field) => field is 4 or 5 or 7 or 9 or 10 or 11;

    public static ModelProto Parse(ReadOnlyMemory<byte> buffer, string? path)
    {
        var state = new State(buffer, path);
        state.Rewrite(buffer.Span, 0, Kind.Model, depth: 0);
        ModelProto model;
        try
        {
            model = ModelProto.Parser.ParseFrom(state.Output(0).WrittenSpan);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new CompressTasksException(DiagnosticCodes.ModelMalformed, $"not a valid ONNX model: {e.Message}", path, inner: e);
        }
        if (state.Payloads.Count > 0)
        {
            TensorVisitor.ForEachTensor(model, t => Restore(t, state.Payloads));
        }
        return model;
    }

    private static void Restore(TensorProto t, List<ReadOnlyMemory<byte>> payloads)
    {
        if (t.HasRawData) t.RawData = Resolve(t.RawData, payloads);
        if (t.HasFloatData) t.FloatData = Resolve(t.FloatData, payloads);
        if (t.HasInt32Data) t.Int32Data = Resolve(t.Int32Data, payloads);
        if (t.HasInt64Data) t.Int64Data = Resolve(t.Int64Data, payloads);
        if (t.HasDoubleData) t.DoubleData = Resolve(t.DoubleData, payloads);
        if (t.HasUint64Data) t.Uint64Data = Resolve(t.Uint64Data, payloads);
    }

    private static ByteString Resolve(ByteString value, List<ReadOnlyMemory<byte>> payloads)
    {
        var span = value.Span;
        if (span.Length != PlaceholderLength || !span.StartsWith(Magic)) return value;
        int index = BitConverter.ToInt32(span[Magic.Length..]);
        return UnsafeByteOperations.UnsafeWrap(payloads[index]);
    }

    private sealed class State(ReadOnlyMemory<byte> buffer, string? path)
    {
        public readonly List<ReadOnlyMemory<byte>> Payloads = new();
        private readonly List<ArrayBufferWriter<byte>> _outputs = new();

        // One reusable output buffer per nesting level.
        public ArrayBufferWriter<byte> Output(int depth)
        {
            while (_outputs.Count <= depth) _outputs.Add(new ArrayBufferWriter<byte>(depth == 0 ? 1 << 16 : 1 << 10));
            return _outputs[depth];
        }

        /// <summary>Writes a copy of <paramref name="message"/> (at <paramref name="offset"/> in the file) with payloads replaced, into Output(depth).</summary>
        public void Rewrite(ReadOnlySpan<byte> message, long offset, Kind kind, int depth)
        {
            if (depth >= MaxDepth)
                throw new CompressTasksException(DiagnosticCodes.ModelTooDeep, $"graphs are nested more than {MaxDepth} levels deep (at byte {offset})", path);
            var output = Output(depth);
            output.ResetWrittenCount();
            int pos = 0;
            while (pos < message.Length)
            {
                int start = pos;
                ulong tag = ReadVarint(message, ref pos, offset);
                int field = (int)(tag >> 3);
                int wireType = (int)(tag & 7);
                if (field == 0 || tag > int.MaxValue)
                    throw Malformed($"invalid field tag {tag}", offset + start);
                switch (wireType)
                {
                    case 0: ReadVarint(message, ref pos, offset); break;
                    case 1: Skip(message, ref pos, 8, offset); break;
                    case 5: Skip(message, ref pos, 4, offset); break;
                    case 2:
                        int tagEnd = pos;
                        ulong length = ReadVarint(message, ref pos, offset);
                        if (length > (ulong)(message.Length - pos))
                            throw Malformed($"field {field} claims {length} bytes but only {message.Length - pos} remain (file truncated?)", offset + start);
                        int dataStart = pos;
                        pos += (int)length;
                        if (kind == Kind.Tensor && IsPayloadField(field) && length >= PlaceholderLength)
                        {
                            Write(output, message[start..tagEnd]);
                            WriteVarint(output, PlaceholderLength);
                            Write(output, Magic);
                            BitConverter.TryWriteBytes(output.GetSpan(4), Payloads.Count);
                            output.Advance(4);
                            Payloads.Add(buffer.Slice(checked((int)(offset + dataStart)), (int)length));
                            continue;
                        }
                        var child = ChildKind(kind, field);
                        if (child != Kind.Other)
                        {
                            int before = Payloads.Count;
                            Rewrite(message.Slice(dataStart, (int)length), offset + dataStart, child, depth + 1);
                            if (Payloads.Count != before)
                            {
                                var rewritten = Output(depth + 1).WrittenSpan;
                                Write(output, message[start..tagEnd]);
                                WriteVarint(output, (ulong)rewritten.Length);
                                Write(output, rewritten);
                                continue;
                            }
                        }
                        break;
                    default:
                        throw Malformed($"field {field} has wire type {wireType}, which ONNX does not use", offset + start);
                }
                Write(output, message[start..pos]);
            }
        }

        private CompressTasksException Malformed(string what, long at) =>
            new(DiagnosticCodes.ModelMalformed, $"not a valid ONNX model: {what} at byte {at}", path);

        private ulong ReadVarint(ReadOnlySpan<byte> span, ref int pos, long offset)
        {
            ulong result = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                if (pos >= span.Length) throw Malformed("truncated varint", offset + pos);
                byte b = span[pos++];
                result |= (ulong)(b & 0x7F) << shift;
                if (b < 0x80) return result;
            }
            throw Malformed("varint longer than 10 bytes", offset + pos);
        }

        private void Skip(ReadOnlySpan<byte> span, ref int pos, int count, long offset)
        {
            if (span.Length - pos < count) throw Malformed("truncated fixed-size field", offset + pos);
            pos += count;
        }
    }

    private static void Write(ArrayBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(output.GetSpan(bytes.Length));
        output.Advance(bytes.Length);
    }

    private static void WriteVarint(ArrayBufferWriter<byte> output, ulong value)
    {
        var span = output.GetSpan(10);
        int n = 0;
        while (value >= 0x80)
        {
            span[n++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[n++] = (byte)value;
        output.Advance(n);
    }
}
