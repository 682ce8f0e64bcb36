using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Dynamic int8 quantization of MatMul/Gemm and Conv: weights stored as 8-bit integers, activations quantized to
/// uint8 at run time, the product computed in integers. About a quarter of the weight bytes, and ONNX Runtime runs
/// MatMul/Gemm with its integer GEMM (it fuses the chain below into DynamicQuantizeMatMul / MatMulIntegerToFloat).
/// </summary>
/// <remarks>
/// <code>
///   x ─MatMul(W: float32 [K, N])─▶ y            x ─Gemm(W, C, alpha, transB)─▶ y   (transA = 0, beta = 1)
///     ⇒
///   x ─DynamicQuantizeLinear─▶ x_q: uint8, x_scale, x_zero_point      (one per activation, shared by its readers)
///   MatMulInteger(x_q, W_q: int8|uint8 [K, N], x_zero_point, W_zero_point) ─Cast(float)─▶
///   Mul(·, Mul(x_scale, W_scale·alpha)) ─▶ y     (─▶ Add(·, C) ─▶ y for a Gemm with C)
///
///   x ─Conv(W: float32 [M, C/g, k…], B: [M])─▶ y
///     ⇒
///   ConvInteger(x_q, W_q: int8|uint8 [M, C/g, k…], x_zero_point, W_zero_point: scalar) ─Cast(float)─▶
///   Mul(·, Mul(x_scale, W_scale: [] or [M, 1…])) ─Add(B: [M, 1…])─▶ y     (the Conv's attributes kept)
/// </code>
/// x_scale = (max(x, 0) − min(x, 0)) / 255 per run (DynamicQuantizeLinear); W as in <see cref="Int8Quantization"/>,
/// per tensor or per output column (MatMulInteger takes a 1-D b_zero_point of N values): symmetric int8 with zero
/// point 0 and s = max|w|/127, or asymmetric uint8; reduce-range uses 7 bits (±63 or 0..127), which keeps the
/// u8·s8 pair sums of CPUs without VNNI (AVX2 vpmaddubsw) from saturating. y = x_scale·W_scale·(x_q − x_zp)(W_q − W_zp).
/// A Gemm with transB = 1 gets its weight stored transposed ([K, N]).
/// Conv: ONNX Runtime's CPU ConvInteger takes only a scalar weight zero point ("Non per-tensor quantization is not
/// supported now"), so per-channel Conv weights are symmetric int8 with the one zero point 0 and their per-channel
/// scales applied after the Cast (W_scale [M, 1…] broadcasts over [N, M, spatial…]); the bias moves to the same
/// [M, 1…] shape. Per-channel asymmetric Conv weights would need a zero point per channel: skipped, saying so.
/// Preconditions (skips, with a reason): opset ≥ 11 (DynamicQuantizeLinear; never raised); W a finite float32
/// constant chosen by <see cref="WeightSelection"/> (2-D for MatMul/Gemm, rank 3–5 for Conv), read only by selected
/// readers of one op type that agree on its layout (a weight also read by another node, or a graph output, stays
/// float32 for all of them); Gemm with transA = 0 and beta = 1; a Conv bias, when present, a float32 constant.
/// Conv is not in the default <c>op-types</c>: ONNX Runtime runs ConvInteger without a fused kernel (the chain stays
/// DynamicQuantizeLinear → ConvInteger → Cast → Mul → Add), measured slower than float32 Conv on the CNNs in
/// eng/benchmarks; name it (<c>op-types: [MatMul, Gemm, Conv]</c>) for the size, or use quantize-static for speed.
/// Transformers: x_scale is one per activation tensor, so a few outlier features set the step for all. In BERT-class
/// encoders (all-MiniLM-L6-v2) the feed-forward inputs carry them at [CLS] (post-attention LayerNorm feature ≈ 30, GELU
/// output ≈ 24, against rms 0.2–0.7): the uint8 step is 0.2–0.4 of the rms and those MatMuls lose 10–100× more than the
/// attention ones. <c>exclude</c> them (or just the first layer's down-projection) where the budget is tight, or run
/// smooth-activations before this pass to move the outliers into the weights; the measured trade-offs are in
/// eng/benchmarks/README.md.
/// </remarks>
public sealed partial class QuantizeDynamic : GraphPass
{
    private static readonly string[] Supported = ["MatMul", "Gemm", "Conv"];

    private static readonly string[] Defaults = ["MatMul", "Gemm"];

    public override PassDescriptor Descriptor { get; } = new(
        "quantize-dynamic", PassKind.Quantization,
        "Stores MatMul/Gemm (and, when named in op-types, Conv) weights as int8 and quantizes their activations to uint8 at run time (DynamicQuantizeLinear + MatMulInteger/ConvInteger): about a quarter of the weight bytes, integer compute.",
        [
            ParameterSpec.Bool("per-channel", true, "One weight scale per output column (Conv: output channel); false: one per weight."),
            ParameterSpec.Bool("symmetric", true, "int8 weights with zero point 0 and scale max|w|/127; false: uint8 with a zero point from min/max."),
            ParameterSpec.Bool("reduce-range", false, "7-bit weights (±63, or 0..127): for CPUs without VNNI, where 8-bit u8·s8 pair sums can saturate."),
            .. WeightSelection.Parameters(Supported, 1024, Defaults),
        ],
        "- quantize-dynamic: { per-channel: true, symmetric: true, reduce-range: false }");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        bool perChannel = arguments.GetBool("per-channel");
        bool symmetric = arguments.GetBool("symmetric");
        bool reduceRange = arguments.GetBool("reduce-range");
        var selection = WeightSelection.From(arguments, Supported, result);

        var selected = selection.SelectWeights(main, result, _ => 1);
        var order = selected.Select(s => s.Weight).ToList();
        var readers = selected.ToDictionary(s => (s.Weight.Graph, s.Weight.Name), s => s.Readers);

        long opset = main.GetOpsetVersion("") ?? 0;
        var activations = new Dictionary<(Graph, string), string[]>();
        var biases = new Dictionary<(Graph, string), string>();
        foreach (var constant in order)
        {
            var nodes = readers[(constant.Graph, constant.Name)];
            result.RecordMatch();
            if (Skip(constant, nodes, opset, perChannel, symmetric) is { } reason)
            {
                result.Skip(reason);
                continue;
            }
            var weight = nodes[0].Is("Conv")
                ? QuantizeConvWeight(constant, perChannel, symmetric, reduceRange)
                : QuantizeWeight(constant, Transposed(nodes[0]), perChannel, symmetric, reduceRange);
            Weights.Remove(constant);
            foreach (var node in nodes) Rewrite(node, weight, activations, biases);
            result.RecordRewrite();
        }
    }

    private static bool Transposed(Node node) => node.Is("Gemm") && node.GetInt("transB", 0) != 0;

    private static string? Skip(Constant constant, IReadOnlyList<Node> nodes, long opset, bool perChannel, bool symmetric)
    {
        string name = constant.Name;
        if (opset < 11) return $"'{name}': opset {opset} has no DynamicQuantizeLinear (needs 11); set a higher opset in the recipe to quantize it";
        if (constant.DataType != 1) return $"'{name}' is {DataTypes.Name(constant.DataType)}, not float32";
        if (constant.Graph.UseCount(name) != nodes.Count || constant.Graph.MustKeepName(name))
            return $"'{name}' is also read by other nodes or is a graph output; it stays float32 for them all";
        if (nodes.Any(n => n.OpType != nodes[0].OpType && (n.Is("Conv") || nodes[0].Is("Conv"))))
            return $"'{name}' is read by Conv and by MatMul/Gemm; it stays float32";
        if (nodes[0].Is("Conv"))
        {
            if (constant.Dims.Count is < 3 or > 5) return $"'{name}' has rank {constant.Dims.Count}; Conv weights here are [M, C/g, k…] with 1–3 spatial axes";
            if (perChannel && !symmetric)
                return $"'{name}': ONNX Runtime's ConvInteger takes one weight zero point, not one per channel; set symmetric: true (zero point 0) or per-channel: false";
            foreach (var node in nodes)
            {
                if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0 && node.Graph!.TryGetConstant(node.Inputs[2]) is not { DataType: 1 })
                    return $"'{name}': the bias of {node} is not a float32 constant";
            }
            if (!float.IsFinite(TensorPrimitives.MaxMagnitude(constant.AsFloat()))) return $"'{name}' holds NaN or infinity";
            return null;
        }
        if (constant.Dims.Count != 2) return $"'{name}' has rank {constant.Dims.Count}; MatMulInteger weights here are 2-D [K, N]";
        foreach (var node in nodes)
        {
            if (node.Is("Gemm") && (node.GetInt("transA", 0) != 0 || (node.Inputs.Count > 2 && node.Inputs[2].Length > 0 && node.GetFloat("beta", 1f) != 1f)))
                return $"'{name}': {node} has transA or beta ≠ 1";
            if (Transposed(node) != Transposed(nodes[0])) return $"'{name}': its readers disagree on its layout (transB)";
        }
        if (!float.IsFinite(TensorPrimitives.MaxMagnitude(constant.AsFloat()))) return $"'{name}' holds NaN or infinity";
        return null;
    }

    /// <summary>The stored weight: int8/uint8 [K, N], its float32 scales and zero points ([N] or scalars).</summary>
    private sealed record QuantizedWeight(Graph Graph, string Name, string Quantized, string ZeroPoint, float[] Scales, long[] ParamDims, int Rank = 2)
    {
        /// <summary>The W_scale initializer readers with alpha = 1 share, added by the first of them.</summary>
        public string? Scale { get; set; }
    }

    private static QuantizedWeight QuantizeWeight(Constant constant, bool transposed, bool perChannel, bool symmetric, bool reduceRange)
    {
        var graph = constant.Graph;
        int rows = (int)constant.Dims[0], columns = (int)constant.Dims[1];
        ReadOnlySpan<float> values = constant.AsFloat();
        float[]? kn = null;
        if (transposed)
        {
            // Gemm transB = 1 reads W as [N, K]; MatMulInteger wants [K, N].
            kn = new float[values.Length];
            Int4Quantization.Transpose(values, rows, columns, kn);
            (rows, columns) = (columns, rows);
            values = kn;
        }
        // [K, N] viewed as [outer, channels, inner]: per column K × N × 1, per tensor 1 × 1 × K·N.
        int channels = perChannel ? columns : 1, outer = perChannel ? rows : 1, inner = perChannel ? 1 : values.Length;
        var (quantized, scales, zeroPoints, type) = Int8Weights.Quantize(values, outer, channels, inner, symmetric, reduceRange);
        long[] paramDims = perChannel ? [channels] : [];
        string name = constant.Name;
        var q = Weights.Add(graph, name + "_quantized", type, [rows, columns], quantized);
        var z = Weights.Add(graph, name + "_zero_point", type, paramDims, zeroPoints);
        return new QuantizedWeight(graph, name, q.Name, z.Name, scales, paramDims);
    }

    private static void Rewrite(Node node, QuantizedWeight weight, Dictionary<(Graph, string), string[]> activations,
        Dictionary<(Graph, string), string> biases)
    {
        var g = node.Graph!;
        string x = node.Inputs[0], y = node.Outputs[0];
        var dynamic = Activation(g, x, activations);

        // W_scale·alpha: one initializer per weight, or per reader when a Gemm's alpha is not 1.
        float alpha = node.Is("Gemm") ? node.GetFloat("alpha", 1f) : 1f;
        string scale;
        if (alpha == 1f)
        {
            scale = weight.Scale ??= AddScale(weight, weight.Scales, "_scale");
        }
        else
        {
            var scaled = new float[weight.Scales.Length];
            TensorPrimitives.Multiply(weight.Scales, alpha, scaled);
            scale = AddScale(weight, scaled, "_scale_alpha");
        }

        bool conv = node.Is("Conv");
        string? bias = node.OpType is "Gemm" or "Conv" && node.Inputs.Count > 2 && node.Inputs[2].Length > 0 ? node.Inputs[2] : null;
        string? floatBias = conv ? bias : null;
        if (conv && bias is not null) bias = ChannelBias(g, bias, weight.Rank, biases);
        string baseName = node.Name.Length > 0 ? node.Name : y;
        string integer = g.FreshName(baseName + "_int32"), floats = g.FreshName(baseName + "_float"), factor = g.FreshName(baseName + "_scale");
        string product = bias is null ? y : g.FreshName(baseName + "_product");
        var chain = new List<NodeProto>
        {
            Make(conv ? "ConvInteger" : "MatMulInteger", baseName, [dynamic[0], weight.Quantized, dynamic[2], weight.ZeroPoint], integer,
                conv ? node.Proto.Attribute.ToArray() : []),
            Make("Cast", baseName, [integer], floats, new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = 1 }),
            Make("Mul", baseName + "_scales", [dynamic[1], scale], factor),
            Make("Mul", baseName, [floats, factor], product),
        };
        if (bias is not null) chain.Add(Make("Add", baseName + "_bias", [product, bias], y));

        int at = g.PositionOf(node);
        g.RemoveNode(node);
        for (int i = 0; i < chain.Count; i++) g.Insert(at + i, chain[i]);
        if (floatBias is not null) Weights.RemoveIfUnused(g, floatBias);

        NodeProto Make(string op, string hint, string[] inputs, string output, params IEnumerable<AttributeProto> attributes)
        {
            var proto = new NodeProto { OpType = op, Name = g.FreshName(hint + "_" + op) };
            proto.Input.Add(inputs);
            proto.Output.Add(output);
            proto.Attribute.Add(attributes);
            return proto;
        }
    }

    private static string AddScale(QuantizedWeight weight, float[] scales, string suffix) =>
        Weights.Add(weight.Graph, weight.Name + suffix, 1, weight.ParamDims, MemoryMarshal.AsBytes(scales.AsSpan()).ToArray()).Name;

    // One DynamicQuantizeLinear per activation and graph, placed right after the activation's producer (or first).
    private static string[] Activation(Graph g, string x, Dictionary<(Graph, string), string[]> activations)
    {
        if (activations.TryGetValue((g, x), out var outputs)) return outputs;
        outputs = [g.FreshName(x + "_quantized"), g.FreshName(x + "_scale"), g.FreshName(x + "_zero_point")];
        var proto = new NodeProto { OpType = "DynamicQuantizeLinear", Name = g.FreshName(x + "_DynamicQuantizeLinear") };
        proto.Input.Add(x);
        proto.Output.Add(outputs);
        if (g.GetProducer(x) is { } producer) g.InsertAfter(producer, proto);
        else g.Insert(0, proto);
        activations[(g, x)] = outputs;
        return outputs;
    }
}
