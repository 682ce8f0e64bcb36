using CompressTasks.Graphs;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// Which axis of a weight holds the output channels, as its reader uses it: where per-channel scales, clipping
/// ranges and the like are taken.
/// </summary>
public static class ChannelAxis
{
    /// <summary>
    /// The output-channel axis of a weight of <paramref name="rank"/> read by <paramref name="reader"/>: 0 for Conv
    /// (W is [M, C, …]), for Gemm 0 with transB (W is [N, K]) else 1, otherwise (MatMul) the last; −1 when there is
    /// none (a 1-D MatMul weight).
    /// </summary>
    public static int Of(Node reader, int rank) => reader.OpType switch
    {
        "Conv" => 0,
        "Gemm" => reader.GetInt("transB", 0) != 0 ? 0 : 1,
        _ => rank >= 2 ? rank - 1 : -1,
    };
}
