using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

// The Conv half of quantize-dynamic: ConvInteger's weight (one zero point, per-channel scales shaped [M, 1…]) and bias.
public sealed partial class QuantizeDynamic
{
    // Conv: [M, C/g, k…] viewed as [1, M, C/g·k…] per channel or [1, 1, all] per tensor; one scalar zero point, as
    // ConvInteger wants (0 when symmetric, so per-channel scales are still exact); the scales shaped [M, 1…].
    private static QuantizedWeight QuantizeConvWeight(Constant constant, bool perChannel, bool symmetric, bool reduceRange)
    {
        var graph = constant.Graph;
        var dims = constant.Dims.ToArray();
        ReadOnlySpan<float> values = constant.AsFloat();
        int channels = perChannel ? (int)dims[0] : 1, inner = values.Length / channels;
        // Asymmetric is per tensor only (checked in Skip): one zero point.
        var (quantized, scales, zeroPoints, type) = Int8Weights.Quantize(values, 1, channels, inner, symmetric, reduceRange);
        long[] scaleDims = perChannel ? ChannelShape(channels, dims.Length) : [];
        string name = constant.Name;
        var q = Weights.Add(graph, name + "_quantized", type, dims, quantized);
        var z = Weights.Add(graph, name + "_zero_point", type, [], zeroPoints.AsSpan(0, 1).ToArray());
        return new QuantizedWeight(graph, name, q.Name, z.Name, scales, scaleDims, dims.Length);
    }

    // [M, 1, …]: one value per output channel, broadcast over a Conv output [N, M, spatial…] of the weight's rank.
    private static long[] ChannelShape(long channels, int rank)
    {
        var shape = new long[rank - 1];
        Array.Fill(shape, 1L);
        shape[0] = channels;
        return shape;
    }

    // A Conv bias [M] as [M, 1…] so it broadcasts over [N, M, spatial…]: one reshaped copy per bias, the original
    // removed once nothing reads it.
    private static string ChannelBias(Graph g, string bias, int weightRank, Dictionary<(Graph, string), string> biases)
    {
        if (biases.TryGetValue((g, bias), out var reshaped)) return reshaped;
        var constant = g.TryGetConstant(bias)!;
        reshaped = Weights.Add(g, bias + "_channels", 1, ChannelShape(constant.ElementCount, weightRank), MemoryMarshal.AsBytes(constant.AsFloat()).ToArray()).Name;
        return biases[(g, bias)] = reshaped;
    }
}
