using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Stores Gather lookup tables (word embeddings) in 8 or 4 bits. A transformer's embedding table is often half its
/// bytes (all-MiniLM-L6-v2: 47 of 91 MB) and no MatMul pass touches it, since Gather reads it, not a MatMul.
/// </summary>
/// <remarks>
/// <code>
///   W: float32 [V, ..., D] ─Gather(axis 0, ids)─▶ y
///     ⇒ format: gather (standard ops, any runtime; opset ≥ 7)
///   W_quantized: int8 [V, ..., D] ─Gather(ids)─Cast(float)─▶ ─Mul─▶ y           symmetric
///   W_scale: float32 [V, 1, ..., 1] ─Gather(ids)──────────────────▶
///   asymmetric: W_quantized uint8, W_zero_point uint8 [V, 1, ..., 1]:  (Cast(q_g) − Cast(z_g)) · s_g ─▶ y
///     ⇒ format: gather-block-quantized (ONNX Runtime's com.microsoft op)
///   W_q: uint8 [V, ..., D·bits/8] ─GatherBlockQuantized(ids, W_scale [V, ..., ⌈D/B⌉], W_zero_point?)─▶ y
/// </code>
/// gather: one scale per row (index of axis 0), see <see cref="Int8Quantization"/>: symmetric s = max|row|/127,
/// q = round(w/s) ∈ [−127, 127]; asymmetric s = (max − min)/255 over a range holding 0, z ∈ [0, 255]. A zero row gets
/// s = 1 (codes 0), so no NaN. The scales are [V, 1, ..., 1] so the gathered ones broadcast without Unsqueeze.
/// Arithmetic: q − z is exact in float32 (integers below 2^24), so y = (q − z)·s is rounded once, exactly what
/// DequantizeLinear computes: |y − w| ≤ s/2 (plus half an ulp of y).
/// gather-block-quantized: blocks of B values along the last axis, one scale each (<see cref="Int4Quantization"/> at
/// 4 bits: s = max|w|/7, stored code q + 8, the op's default zero point, so no zero-point input; 8 bits: q + 128).
/// Asymmetric blocks add a zero point per block (4 bits: packed two per byte along the blocks, low nibble first).
/// 4-bit codes are packed two per byte along D, low nibble first, so D must be even. The CPU kernel takes uint8 data
/// with bits 4 or 8, gather_axis 0 and quantize_axis the last axis, B a power of two ≥ 16; a short last block is
/// allowed. |y − w| ≤ s/2 per block. Imports com.microsoft version 1 when the model lacks it.
/// Preconditions (skips, with a reason): W a finite float32 constant of rank ≥ 2 picked by the shared
/// <see cref="WeightSelection"/> parameters (its op types are fixed to Gather) whose every reader is input 0 of a Gather
/// on axis 0 in W's own graph; not read by any other node or subgraph, not a graph output, not an initializer that is
/// also a graph input. Readers sharing W share one quantized table. Output names and types never change.
/// </remarks>
public sealed class QuantizeEmbeddings : GraphPass
{
    private static readonly string[] Readers = ["Gather"];

    public override PassDescriptor Descriptor { get; } = new(
        "quantize-embeddings", PassKind.Quantization,
        "Stores Gather lookup tables (word embeddings, often half a transformer's bytes) in 8 bits with a scale per row, or in 4/8-bit blocks as ONNX Runtime's GatherBlockQuantized.",
        [
            ParameterSpec.Enum("format", "gather", ["gather", "gather-block-quantized"], "gather: int8/uint8 table, standard Gather, Cast and Mul by a gathered per-row scale (any runtime); gather-block-quantized: ONNX Runtime's com.microsoft GatherBlockQuantized with a scale per block of block-size values along the last axis."),
            ParameterSpec.Int("bits", 0, "Bits per value: 0 picks the format's default (gather: 8, its only choice; gather-block-quantized: 4, or 8).", minimum: 0, maximum: 8),
            ParameterSpec.Bool("symmetric", true, "Zero point at the middle of the code range and scale max|w|/127 (or /7); false: a zero point per row (or block) from its min/max."),
            ParameterSpec.Int("block-size", 32, "gather-block-quantized: values per block along the last axis (a power of two ≥ 16).", minimum: 16, maximum: 1024),
            .. WeightSelection.ParametersWithoutOpTypes(65536),
        ],
        "- quantize-embeddings: { format: gather, symmetric: true, min-elements: 65536 }");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        bool blocks = arguments.GetString("format") == "gather-block-quantized";
        int bits = arguments.GetInt("bits") is 0 ? (blocks ? 4 : 8) : arguments.GetInt("bits");
        bool symmetric = arguments.GetBool("symmetric");
        int blockSize = arguments.GetInt("block-size");
        var selection = WeightSelection.From(arguments, Readers, result);
        long opset = main.GetOpsetVersion("") ?? 0;
        foreach (var (table, readers) in selection.SelectWeights(main, result, _ => 0))
        {
            result.RecordMatch();
            if (Skip(table, readers, blocks, bits, blockSize, opset) is { } reason)
            {
                result.Skip(reason);
                continue;
            }
            if (blocks) EmitBlockQuantized(table, readers, bits, symmetric, blockSize);
            else EmitGather(table, readers, symmetric);
            result.RecordRewrite();
        }
    }

    private static string? Skip(Constant table, IReadOnlyList<Node> readers, bool blocks, int bits, int blockSize, long opset)
    {
        string name = table.Name;
        if (table.DataType != 1) return $"'{name}' is {DataTypes.Name(table.DataType)}, not float32";
        int rank = table.Dims.Count;
        if (rank < 2) return $"'{name}' has rank {rank}; a lookup table is [V, ..., D]";
        foreach (var node in readers)
        {
            if (node.Graph != table.Graph) return $"'{name}' is read by {node} inside a subgraph; it stays float32";
            long axis = node.GetInt("axis", 0);
            if (axis != 0 && axis != -rank) return $"'{name}': {node} gathers along axis {axis}, not rows (axis 0); it stays float32";
        }
        var others = table.Graph.GetConsumers(name).Where(u => !readers.Contains(u.Node)).Select(u => $"{u.Node} (input {u.Index})").ToList();
        if (others.Count > 0 || table.UseCount != readers.Count)
            return $"'{name}' is also read by {(others.Count > 0 ? string.Join(", ", others) : "nodes in subgraphs")} (tied weights?); they need the float table, so it stays float32";
        if (table.Graph.MustKeepName(name)) return $"'{name}' is a graph output; it stays float32";
        if (blocks)
        {
            if (bits is not (4 or 8)) return $"'{name}': gather-block-quantized stores 4 or 8 bits, not {bits}";
            if ((blockSize & (blockSize - 1)) != 0) return $"'{name}': block-size {blockSize} is not a power of two (GatherBlockQuantized needs one)";
            if (bits == 4 && table.Dims[^1] % 2 != 0) return $"'{name}': its last axis ({table.Dims[^1]}) is odd, and 4-bit codes are packed two per byte along it";
        }
        else
        {
            if (bits != 8) return $"'{name}': format gather stores 8 bits, not {bits}; use gather-block-quantized for 4";
            if (opset < 7) return $"'{name}': opset {opset} has no broadcasting Mul (needs 7; Cast's int 'to' needs 6); the opset is never raised";
        }
        if (!float.IsFinite(TensorPrimitives.MaxMagnitude(table.AsFloat()))) return $"'{name}' holds NaN or infinity";
        return null;
    }

    // Per row: W_quantized, W_scale [V, 1, ..., 1] (and W_zero_point), then per reader Gather → Cast → (Sub) → Mul.
    private static void EmitGather(Constant table, IReadOnlyList<Node> readers, bool symmetric)
    {
        var graph = table.Graph;
        string name = table.Name;
        var dims = table.Dims.ToArray();
        int rows = (int)dims[0];
        var w = Int8Weights.Quantize(table.AsFloat(), 1, rows, (int)(table.ElementCount / rows), symmetric);
        long[] paramDims = [rows, .. Enumerable.Repeat(1L, dims.Length - 1)];
        var q = Weights.Add(graph, name + "_quantized", w.ElementType, dims, w.Values);
        var s = Weights.Add(graph, name + "_scale", 1, paramDims, MemoryMarshal.AsBytes(w.Scales.AsSpan()).ToArray());
        var z = symmetric ? null : Weights.Add(graph, name + "_zero_point", w.ElementType, paramDims, w.ZeroPoints);
        foreach (var reader in readers)
        {
            string ids = reader.Inputs[1], y = reader.Outputs[0];
            var anchor = graph.ReplaceNode(reader, Op("Gather", reader.Name, [q.Name, ids], graph.FreshName(y + "_quantized")));
            string value = Then(ref anchor, Op("Cast", graph.FreshName(y + "_Cast"), [anchor.Outputs[0]], graph.FreshName(y + "_codes"), Int("to", 1)));
            if (z is not null)
            {
                string zg = Then(ref anchor, Op("Gather", graph.FreshName(y + "_zero_point_Gather"), [z.Name, ids], graph.FreshName(y + "_zero_point")));
                string zf = Then(ref anchor, Op("Cast", graph.FreshName(y + "_zero_point_Cast"), [zg], graph.FreshName(y + "_zero_point_float"), Int("to", 1)));
                value = Then(ref anchor, Op("Sub", graph.FreshName(y + "_Sub"), [value, zf], graph.FreshName(y + "_centered")));
            }
            string sg = Then(ref anchor, Op("Gather", graph.FreshName(y + "_scale_Gather"), [s.Name, ids], graph.FreshName(y + "_scale")));
            Then(ref anchor, Op("Mul", graph.FreshName(y + "_Mul"), [value, sg], y));
        }
        Weights.Remove(table);
    }

    // Blocks of B along the last axis: codes [rows, D] with rows = V·(middle axes), scales [rows, ⌈D/B⌉].
    private static void EmitBlockQuantized(Constant table, IReadOnlyList<Node> readers, int bits, bool symmetric, int blockSize)
    {
        var graph = table.Graph;
        string name = table.Name;
        var dims = table.Dims.ToArray();
        int k = (int)dims[^1], rows = (int)(table.ElementCount / k), blocks = Int4Quantization.BlockCount(k, blockSize);
        var values = table.AsFloat();
        var codes = new byte[values.Length];
        var scales = new float[rows * blocks];
        var zeroPoints = new byte[rows * blocks];
        if (bits == 4)
        {
            Int4Quantization.ComputeParameters(values, rows, k, blockSize, symmetric, scales, zeroPoints);
            Int4Quantization.Quantize(values, rows, k, blockSize, scales, zeroPoints, codes);
        }
        else QuantizeBlocks8(values, rows, k, blockSize, symmetric, codes, scales, zeroPoints);

        long[] dataDims = [.. dims[..^1], bits == 4 ? k / 2 : k];
        long[] scaleDims = [.. dims[..^1], blocks];
        byte[] data = codes, zero = zeroPoints;
        if (bits == 4)
        {
            // Logical element i sits in byte i/2, the even one in the low nibble (rows stay byte-aligned: k is even).
            data = new byte[codes.Length / 2];
            Int4Quantization.PackNibbles(codes, data);
            int perRow = (blocks + 1) / 2;
            zero = new byte[rows * perRow];
            for (int r = 0; r < rows; r++)
                Int4Quantization.PackNibbles(zeroPoints.AsSpan(r * blocks, blocks), zero.AsSpan(r * perRow, perRow));
        }
        long[] zeroDims = [.. dims[..^1], bits == 4 ? (blocks + 1) / 2 : blocks];
        int uint8 = (int)TensorProto.Types.DataType.Uint8;
        var q = Weights.Add(graph, name + "_q" + bits, uint8, dataDims, data);
        var s = Weights.Add(graph, name + "_scale", 1, scaleDims, MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var z = symmetric ? null : Weights.Add(graph, name + "_zero_point", uint8, zeroDims, zero);
        ContribDomain.Import(graph);
        foreach (var reader in readers)
        {
            var op = Op("GatherBlockQuantized", reader.Name, [q.Name, reader.Inputs[1], s.Name, .. z is null ? Array.Empty<string>() : [z.Name]], reader.Outputs[0],
                Int("bits", bits), Int("block_size", blockSize), Int("gather_axis", 0), Int("quantize_axis", dims.Length - 1));
            op.Domain = ContribDomain.Name;
            graph.ReplaceNode(reader, op);
        }
        Weights.Remove(table);
    }

    // 8-bit blocks, each row cut into ⌈k/B⌉ blocks (the last shorter): symmetric codes q + 128 (the op's default zero
    // point when none is given), asymmetric uint8 with a zero point per block.
    private static void QuantizeBlocks8(ReadOnlySpan<float> values, int rows, int k, int blockSize, bool symmetric, byte[] codes, float[] scales, byte[] zeroPoints)
    {
        int full = k / blockSize, tail = k % blockSize, blocks = full + (tail > 0 ? 1 : 0);
        for (int r = 0; r < rows; r++)
        {
            for (int part = 0; part < 2; part++)
            {
                // part 0: the full blocks as [1, full, B]; part 1: the short last block as [1, 1, tail].
                int count = part == 0 ? full : tail > 0 ? 1 : 0, inner = part == 0 ? blockSize : tail;
                if (count == 0) continue;
                int at = r * k + part * full * blockSize, p = r * blocks + part * full;
                var w = values.Slice(at, count * inner);
                var c = codes.AsSpan(at, count * inner);
                var sc = scales.AsSpan(p, count);
                if (symmetric)
                {
                    Int8Quantization.ComputeSymmetricScales(w, 1, inner, sc);
                    Int8Quantization.QuantizeSymmetric(w, sc, 1, inner, MemoryMarshal.Cast<byte, sbyte>(c));
                    TensorPrimitives.Xor(c, (byte)0x80, c);  // two's complement q → q + 128
                }
                else
                {
                    var zp = zeroPoints.AsSpan(p, count);
                    Int8Quantization.ComputeAsymmetricParameters(w, 1, inner, sc, zp);
                    Int8Quantization.QuantizeAsymmetric(w, sc, zp, 1, inner, c);
                }
            }
        }
    }

    private static string Then(ref Node anchor, NodeProto next)
    {
        anchor = anchor.Graph!.InsertAfter(anchor, next);
        return next.Output[0];
    }

    private static NodeProto Op(string opType, string name, string[] inputs, string output, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.Add(inputs);
        node.Output.Add(output);
        node.Attribute.Add(attributes);
        return node;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
}
