using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Block-wise 4-bit weight-only quantization of MatMul/Gemm weights: 4 bits per weight plus a float32 scale per
/// block, 5 bits at block 32 (6.4× smaller), 4.25 at block 128 (7.5×). Emitted as ONNX
/// Runtime's <c>MatMulNBits</c> (com.microsoft, a fused 4-bit kernel) or as standard <c>DequantizeLinear</c>
/// over an <c>int4</c>/<c>uint4</c> tensor (opset 21) feeding the unchanged MatMul.
/// </summary>
/// <remarks>
/// <code>
///   format: matmul-nbits
///     A ─MatMul(W: float32 [K, N])─▶ Y                      A ─Gemm(W, C)─▶ Y  (transA = 0, alpha = beta = 1)
///       ⇒ A ─MatMulNBits(W_q4: uint8 [N, ⌈K/B⌉, B/2], W_scale: float32 [N, ⌈K/B⌉], W_zero_point?, bias?)─▶ Y
///   format: dequantize-linear
///     W: float32 [K, N] ⇒ W_q4: int4|uint4 [K, N], W_scale [⌈K/B⌉, N] ─DequantizeLinear(axis, block_size = B)─▶ W ─▶ MatMul
/// </code>
/// Blocks of B values run along K, each with s and z (see <see cref="Int4Quantization"/>): symmetric s = max|w|/7,
/// z = 8 (MatMulNBits' default, so no zero-point input; int4 with z = 0 in DequantizeLinear); asymmetric
/// s = range/15 with a 4-bit z (uint4). |w' − w| ≤ s/2. K not divisible by B: the last block is padded with its
/// zero point. A Gemm's 1-D constant C [N] becomes MatMulNBits' bias, any other C a following Add.
/// Preconditions (skips, with a reason): W a 2-D finite float32 constant picked by <see cref="WeightSelection"/>,
/// read only by the selected MatMul/Gemm readers (not by other nodes or as a graph output: they would either see
/// 4-bit values or keep a float copy), and all of them with the same K axis; Gemm with transA = 0, alpha = 1 and
/// beta = 1; B a power of two ≥ 16; dequantize-linear needs opset 21 (never raised).
/// Conv weights, when <c>op-types</c> names Conv (the default is MatMul and Gemm): format dequantize-linear only,
/// W [M, C/g, kH, kW] stored int4 with, by <c>conv-blocks</c>, one scale per output channel (<c>per-channel</c>, the
/// default: DequantizeLinear axis 0, no blocks, <c>block-size</c> unused) or one per <c>block-size</c> input channels
/// at each kernel position (<c>input-channels</c>: axis 1, block_size B, scales [M, ⌈(C/g)/B⌉, kH, kW], see
/// <see cref="Int4ConvBlocks"/>); <c>method: gptq</c> quantizes them over the im2col statistics, a grouped Conv
/// group by group. matmul-nbits imports com.microsoft version 1 when the model lacks it.
/// <c>method: gptq</c> and <c>bias-correction: true</c> fit the weights to the teacher's outputs on the recipe's
/// calibration data (<see cref="WeightReconstruction"/>; GPTQ's lazy block is <c>gptq-block-size</c>, since
/// <c>block-size</c> is the 4-bit block). GPTQ quantizes with the same formulas in the same blocks, so its codes,
/// scales and zero points are packed exactly as round to nearest's are. Without calibration data every candidate
/// is skipped, saying so.
/// </remarks>
public sealed class QuantizeWeightsInt4 : GraphPass
{
    private static readonly string[] Defaults = ["MatMul", "Gemm"];
    private static readonly string[] Supported = ["MatMul", "Gemm", "Conv"];

    public override PassDescriptor Descriptor { get; } = new(
        "quantize-int4", PassKind.Quantization,
        "Stores MatMul/Gemm weights as 4-bit blocks with one float32 scale per block along K (6.4× smaller at block 32), as ONNX Runtime's MatMulNBits or as int4 DequantizeLinear (opset 21).",
        [
            ParameterSpec.Int("block-size", 32, "Weights per block along K (a power of two: 16, 32, 64, 128…); smaller blocks are more accurate, larger ones smaller.", minimum: 16, maximum: 1024),
            ParameterSpec.Bool("symmetric", true, "Zero point 8 and scale max|w|/7 per block; false: a 4-bit zero point per block from the block's min/max."),
            ParameterSpec.Enum("format", "matmul-nbits", ["matmul-nbits", "dequantize-linear"], "matmul-nbits: ONNX Runtime's fused com.microsoft MatMulNBits; dequantize-linear: standard int4 DequantizeLinear (opset 21) before the MatMul."),
            ParameterSpec.Enum("conv-blocks", "per-channel", ["per-channel", "input-channels"], "Conv kernels (op-types: [Conv], format: dequantize-linear): per-channel: one scale per output channel; input-channels: one scale per block-size input channels at each kernel position (DequantizeLinear axis 1), more accurate for 1/B more scales per weight."),
            ParameterSpec.Int("accuracy-level", 0, "MatMulNBits accuracy_level: 0 unset (float32 compute), 4 lets ONNX Runtime quantize A to int8 (faster, less accurate).", minimum: 0, maximum: 4),
            .. WeightSelection.Parameters(Supported, 1024, Defaults),
            .. WeightReconstruction.BlockwiseParameters,
        ],
        "- quantize-int4: { block-size: 32, symmetric: true, format: matmul-nbits }");

    public override void Run(Graph main, PassArguments arguments, PassResult result) => Run(main, arguments, result, PassContext.None);

    public override void Run(Graph main, PassArguments arguments, PassResult result, PassContext context)
    {
        int blockSize = arguments.GetInt("block-size");
        bool symmetric = arguments.GetBool("symmetric");
        bool nbits = arguments.GetString("format") == "matmul-nbits";
        int accuracy = arguments.GetInt("accuracy-level");
        bool convBlocks = arguments.GetString("conv-blocks") == "input-channels";
        var selection = WeightSelection.From(arguments, Supported, result);

        var selected = selection.SelectWeights(main, result, _ => 1);
        var order = selected.Select(s => s.Weight).ToList();
        var readers = selected.ToDictionary(s => (s.Weight.Graph, s.Weight.Name), s => s.Readers);

        long opset = main.GetOpsetVersion("") ?? 0;
        var reconstruction = WeightReconstruction.Create(arguments, context, out string? missingCalibration);
        var accepted = new List<Constant>();
        foreach (var constant in order)
        {
            result.RecordMatch();
            if ((Skip(constant, readers[(constant.Graph, constant.Name)], blockSize, nbits, opset)
                ?? (missingCalibration is null ? null : $"'{constant.Name}': {missingCalibration}")) is { } reason)
            {
                result.Skip(reason);
                continue;
            }
            accepted.Add(constant);
        }
        reconstruction?.Collect(accepted);
        foreach (var constant in accepted)
        {
            var nodes = readers[(constant.Graph, constant.Name)];
            if (nodes[0].Is("Conv"))
            {
                RewriteConv(constant, convBlocks, blockSize, symmetric, reconstruction, result);
                continue;
            }
            int kAxis = KAxis(nodes[0]);
            var w = reconstruction?.Reconstruct(constant, (k, n) => new LinearWeightQuantizer(k, n, 4, symmetric, blockSize), result) is var (_, quantizer)
                ? Int4Weight.From(constant, kAxis, blockSize, quantizer)
                : Int4Weight.From(constant, kAxis, blockSize, symmetric);
            if (nbits) EmitMatMulNBits(w, nodes, accuracy);
            else EmitDequantizeLinear(w);
            result.RecordRewrite();
        }
    }

    // Conv [M, C/g, kH, kW]: one int4 scale per output channel (DequantizeLinear axis 0), or per block of input
    // channels at each kernel position (axis 1). A method of its own, so a layer's codes are not kept alive by the
    // caller's loop while the next layer is quantized.
    private static void RewriteConv(Constant constant, bool convBlocks, int blockSize, bool symmetric, WeightReconstruction? reconstruction, PassResult result)
    {
        var conv = convBlocks
            ? (reconstruction is not null ? Int4ConvBlocks.From(constant, blockSize, symmetric, reconstruction, result) : null) ?? Int4ConvBlocks.From(constant, blockSize, symmetric)
            : (reconstruction is not null ? Int4Weight.FromConv(constant, symmetric, reconstruction, result) : null) ?? Int4Weight.FromConv(constant, symmetric);
        EmitDequantizeLinear(conv);
        result.RecordRewrite();
    }

    // The axis of W that is summed over (K): MatMul and Gemm without transB read W as [K, N].
    private static int KAxis(Node node) => node.Is("Gemm") && node.GetInt("transB", 0) != 0 ? 1 : 0;

    private static string? Skip(Constant constant, IReadOnlyList<Node> nodes, int blockSize, bool nbits, long opset)
    {
        string name = constant.Name;
        if ((blockSize & (blockSize - 1)) != 0) return $"'{name}': block-size {blockSize} is not a power of two";
        if (!nbits && opset < 21)
            return $"'{name}': opset {opset} has no int4 DequantizeLinear with block_size (needs 21); use format: matmul-nbits or a recipe that raises the opset";
        if (constant.DataType != 1) return $"'{name}' is {DataTypes.Name(constant.DataType)}, not float32";
        if (nodes.Any(n => n.Is("Conv")))
        {
            if (nbits) return $"'{name}': a Conv weight needs format: dequantize-linear (MatMulNBits computes a MatMul)";
            if (!nodes.All(n => n.Is("Conv")) || constant.Dims.Count < 3) return $"'{name}': read by Conv and other ops, or not a Conv kernel";
        }
        else if (constant.Dims.Count != 2) return $"'{name}' has rank {constant.Dims.Count}; 4-bit blocks need a 2-D [K, N] weight";
        if (constant.Graph.UseCount(name) != nodes.Count || constant.Graph.MustKeepName(name))
            return $"'{name}' is also read by other nodes or is a graph output; they would see 4-bit values, so it stays float32";
        foreach (var node in nodes)
        {
            if (node.Is("Gemm") && (node.GetInt("transA", 0) != 0 || node.GetFloat("alpha", 1f) != 1f || (node.Inputs.Count > 2 && node.Inputs[2].Length > 0 && node.GetFloat("beta", 1f) != 1f)))
                return $"'{name}': {node} has transA, alpha or beta other than MatMulNBits computes";
            if (KAxis(node) != KAxis(nodes[0])) return $"'{name}': its readers disagree on which axis is K";
        }
        if (!float.IsFinite(TensorPrimitives.MaxMagnitude(constant.AsFloat()))) return $"'{name}' holds NaN or infinity";
        return null;
    }

    private static void EmitMatMulNBits(Int4Weight w, IReadOnlyList<Node> nodes, int accuracy)
    {
        var graph = w.Constant.Graph;
        string name = w.Constant.Name;
        int blocks = w.Blocks, blob = w.BlockSize / 2;
        var packed = new byte[w.N * blocks * blob];
        Int4Quantization.PackBlocks(w.Codes, w.N, w.K, w.BlockSize, w.ZeroPoints, packed);
        var b = Weights.Add(graph, name + "_q4", (int)TensorProto.Types.DataType.Uint8, [w.N, blocks, blob], packed);
        var s = Weights.Add(graph, name + "_scale", 1, [w.N, blocks], MemoryMarshal.AsBytes(w.Scales.AsSpan()).ToArray());
        string zeroPoint = "";
        if (!w.Symmetric)
        {
            // Packed row by row: [N, ⌈blocks/2⌉], low nibble first.
            int perRow = (blocks + 1) / 2;
            var zp = new byte[w.N * perRow];
            for (int r = 0; r < w.N; r++)
                Int4Quantization.PackNibbles(w.ZeroPoints.AsSpan(r * blocks, blocks), zp.AsSpan(r * perRow, perRow));
            zeroPoint = Weights.Add(graph, name + "_zero_point", (int)TensorProto.Types.DataType.Uint8, [w.N, perRow], zp).Name;
        }
        Weights.Remove(w.Constant);
        ContribDomain.Import(graph);

        foreach (var node in nodes)
        {
            var g = node.Graph!;
            var fused = new NodeProto { OpType = "MatMulNBits", Domain = ContribDomain.Name, Name = node.Name };
            fused.Input.Add([node.Inputs[0], b.Name, s.Name, zeroPoint]);
            fused.Attribute.Add([Int("K", w.K), Int("N", w.N), Int("bits", 4), Int("block_size", w.BlockSize)]);
            if (accuracy > 0) fused.Attribute.Add(Int("accuracy_level", accuracy));
            string output = node.Outputs[0];
            string? addend = node.Is("Gemm") && node.Inputs.Count > 2 && node.Inputs[2].Length > 0 ? node.Inputs[2] : null;
            if (addend is not null && g.TryGetConstant(addend) is { DataType: 1 } c && c.Dims.Count == 1 && c.Dims[0] == w.N)
            {
                fused.Input.Add(["", addend]);  // g_idx (unused), bias
                addend = null;
            }
            else if (addend is not null) output = g.FreshName(output + "_matmul");
            if (string.IsNullOrEmpty(zeroPoint) && fused.Input.Count == 4) fused.Input.RemoveAt(3);
            fused.Output.Add(output);
            var replaced = g.ReplaceNode(node, fused);
            if (addend is not null)
            {
                var add = new NodeProto { OpType = "Add", Name = g.FreshName(node.Name + "_bias") };
                add.Input.Add([output, addend]);
                add.Output.Add(node.Outputs[0]);
                g.InsertAfter(replaced, add);
            }
        }
    }

    private static void EmitDequantizeLinear(Int4Weight w)
    {
        var graph = w.Constant.Graph;
        string name = w.Constant.Name;
        var dims = w.Constant.Dims.ToArray();
        int blocks = w.Blocks;
        // Codes and parameters in W's own layout: [N, K] as computed, or back to [K, N] (parameters [blocks, N]).
        byte[] codes = w.Codes, zeroPoints = w.ZeroPoints;
        float[] scales = w.Scales;
        long[] paramDims = w.KAxis == 0 ? [blocks, w.N] : [w.N, blocks];
        if (w.KAxis == 0)
        {
            codes = new byte[w.Codes.Length];
            Int4Quantization.Transpose<byte>(w.Codes, w.N, w.K, codes);
            scales = new float[w.Scales.Length];
            Int4Quantization.Transpose<float>(w.Scales, w.N, blocks, scales);
            zeroPoints = new byte[w.ZeroPoints.Length];
            Int4Quantization.Transpose<byte>(w.ZeroPoints, w.N, blocks, zeroPoints);
        }
        if (w.PerChannel) paramDims = [w.N];
        if (w.ConvBlocks) paramDims = Int4ConvBlocks.ParameterDims(dims, w.BlockSize);
        int type = (int)(w.Symmetric ? TensorProto.Types.DataType.Int4 : TensorProto.Types.DataType.Uint4);
        // Symmetric: signed int4 c − 8 with zero point 0 (the default, so no zero-point input).
        if (w.Symmetric) Int4Quantization.OffsetToSigned(codes);
        var q = Weights.Add(graph, name + "_q4", type, dims, Pack(codes));
        var s = Weights.Add(graph, name + "_scale", 1, paramDims, MemoryMarshal.AsBytes(scales.AsSpan()).ToArray());
        var z = w.Symmetric ? null : Weights.Add(graph, name + "_zero_point", type, paramDims, Pack(zeroPoints));
        Weights.ReplaceWithDequantize(w.Constant, q, s, z, w.PerChannel ? [Int("axis", 0)] : [Int("axis", w.KAxis), Int("block_size", w.BlockSize)]);
    }

    private static byte[] Pack(byte[] values)
    {
        var packed = new byte[(values.Length + 1) / 2];
        Int4Quantization.PackNibbles(values, packed);
        return packed;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };
}
