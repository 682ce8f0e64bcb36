using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// Removes channels from a <see cref="ChannelGroup"/>: every producer's weight (output axis) and bias, every
/// constant in its slice list, the <c>group</c> of depthwise convolutions, and the stale value_info shapes.
/// </summary>
internal static class ChannelSurgery
{
    /// <summary>The output-channel axis of a producer's weight: Conv 0; Gemm 0 with transB, else 1; MatMul 1.</summary>
    public static int OutputAxis(Node producer) =>
        producer.OpType switch { "Conv" => 0, "Gemm" => producer.GetInt("transB", 0) != 0 ? 0 : 1, _ => 1 };

    /// <summary>Every slice the group needs, producers' weights and biases included; null with a reason when one is not possible.</summary>
    public static List<ChannelSlice>? Plan(Graph graph, ChannelGroup group, out int channels, out string? refusal)
    {
        channels = -1;
        refusal = group.Refusal;
        if (refusal is not null) return null;
        var slices = new List<ChannelSlice>();
        foreach (var p in group.Producers)
        {
            var weight = graph.TryGetConstant(p.Inputs[1])!;
            int axis = OutputAxis(p);
            int c = (int)weight.Dims[axis];
            if (channels >= 0 && c != channels)
            {
                refusal = $"coupled producers have {channels} and {c} channels";
                return null;
            }
            channels = c;
            slices.Add(new ChannelSlice(p, weight.Name, axis, false));
            if (p.Inputs.Count > 2 && p.Inputs[2].Length > 0)
            {
                var bias = graph.TryGetConstant(p.Inputs[2]);
                if (bias is null)
                {
                    refusal = $"the bias of {p} is not a constant";
                    return null;
                }
                // Gemm's C broadcasts: [N] or [1, N] has one value per channel, a scalar or [1] has none to remove.
                int biasAxis = bias.Dims.Count == 0 || bias.ElementCount == 1 ? -1 : bias.Dims.Count - 1;
                if (biasAxis >= 0 && bias.ElementCount != c)
                {
                    refusal = $"the bias of {p} is not one value per channel";
                    return null;
                }
                if (biasAxis >= 0) slices.Add(new ChannelSlice(p, bias.Name, biasAxis, false));
            }
        }
        slices.AddRange(group.Slices);
        foreach (var s in slices)
        {
            var constant = graph.TryGetConstant(s.Name);
            string where = $"'{s.Name}' of {s.Node}";
            if (constant is null || constant.DataType != 1) refusal = $"{where} is not a float32 constant";
            else if (constant.IsOuterScope || graph.MustKeepName(s.Name)) refusal = $"{where} is defined outside the graph or is a graph output";
            else if (constant.UseCount != 1) refusal = $"{where} is shared with other nodes; shared weights stay as they are";
            else if (s.Groups > 1 && (channels % s.Groups != 0 || constant.Dims.Count < 2 || constant.Dims[1] * s.Groups != channels || constant.Dims[0] % s.Groups != 0))
                refusal = $"{where} has shape [{string.Join(",", constant.Dims)}], not group {s.Groups} over {channels} channels";
            else if (s.Part is { } part && (constant.Dims.Count < 2 || constant.Dims[1] != part.Layout.Widths.Sum() || part.Layout.Widths[part.Index] != channels))
                refusal = $"{where} has shape [{string.Join(",", constant.Dims)}], not the Concat's channels";
            else if (s.Part is null && s.Groups == 1 && (s.Axis >= constant.Dims.Count || constant.Dims[s.Axis] % channels != 0 || (!s.Flattened && constant.Dims[s.Axis] != channels)))
                refusal = $"{where} has shape [{string.Join(",", constant.Dims)}], not {channels} channels on axis {s.Axis}";
            if (refusal is not null) return null;
        }
        return slices;
    }

    /// <summary>Keeps the channels in <paramref name="keep"/> (ascending) everywhere the plan says.</summary>
    public static void Apply(Graph graph, ChannelGroup group, List<ChannelSlice> slices, int channels, int[] keep)
    {
        foreach (var s in slices)
        {
            var constant = graph.TryGetConstant(s.Name)!;
            var dims = constant.Dims.ToArray();
            if (s.Part is { } part)
            {
                // The block [offset, offset + channels) of the input axis loses what the group loses; the rest stays.
                int total = (int)dims[1], offset = (int)part.Layout.Offset(part.Index);
                var all = new List<int>(total - channels + keep.Length);
                for (int c = 0; c < offset; c++) all.Add(c);
                foreach (int c in keep) all.Add(offset + c);
                for (int c = offset + channels; c < total; c++) all.Add(c);
                var spatial = (int)(constant.ElementCount / (dims[0] * total));
                var remaining = WeightPruning.KeepChannels(constant.AsFloat(), (int)dims[0], total, 1, spatial, [.. all]);
                dims[1] = all.Count;
                constant.Replace(1, dims, MemoryMarshal.AsBytes(remaining.AsSpan()).ToArray());
                continue;
            }
            if (s.Groups > 1)
            {
                constant.Replace(1, [dims[0], keep.Length / s.Groups, .. dims[2..]], MemoryMarshal.AsBytes(KeepInGroups(constant.AsFloat(), dims, s.Groups, keep).AsSpan()).ToArray());
                continue;
            }
            int factor = (int)(dims[s.Axis] / channels);
            long outer = 1, inner = 1;
            for (int d = 0; d < s.Axis; d++) outer *= dims[d];
            for (int d = s.Axis + 1; d < dims.Length; d++) inner *= dims[d];
            var kept = WeightPruning.KeepChannels(constant.AsFloat(), (int)outer, channels, factor, (int)inner, keep);
            dims[s.Axis] = (long)keep.Length * factor;
            constant.Replace(1, dims, MemoryMarshal.AsBytes(kept.AsSpan()).ToArray());
            // Before IR 4 the initializer is also declared as a graph input, shape included.
            foreach (var input in graph.Proto.Input)
                if (input.Name == s.Name && input.Type?.TensorType?.Shape is { } shape && shape.Dim.Count == dims.Length)
                    shape.Dim[s.Axis] = new TensorShapeProto.Types.Dimension { DimValue = dims[s.Axis] };
        }
        foreach (var node in group.Depthwise) node.FindAttribute("group")!.I = keep.Length;
        // Later groups read the Concat's offsets as they are now.
        foreach (var part in slices.Select(s => s.Part).OfType<ConcatPart>().Distinct()) part.Layout.Widths[part.Index] = keep.Length;
        var stale = group.Values.ToHashSet(StringComparer.Ordinal);
        for (int i = graph.Proto.ValueInfo.Count - 1; i >= 0; i--)
            if (stale.Contains(graph.Proto.ValueInfo[i].Name)) graph.Proto.ValueInfo.RemoveAt(i);
    }

    // A grouped Conv weight [M, C/g, k…]: the rows of group j keep the in-group indices of the kept channels in block j
    // (the same count in every block, which the caller's partition guarantees).
    private static float[] KeepInGroups(ReadOnlySpan<float> values, long[] dims, int groups, int[] keep)
    {
        int rows = (int)dims[0], width = (int)dims[1], perGroup = keep.Length / groups, rowsPerGroup = rows / groups;
        int inner = values.Length / (rows * width);
        var result = new float[(long)rows * perGroup * inner];
        int at = 0;
        for (int m = 0; m < rows; m++)
        {
            int j = m / rowsPerGroup;
            var row = values.Slice(m * width * inner, width * inner);
            for (int k = 0; k < perGroup; k++)
            {
                int inGroup = keep[j * perGroup + k] - j * width;
                row.Slice(inGroup * inner, inner).CopyTo(result.AsSpan(at, inner));
                at += inner;
            }
        }
        return result;
    }

    /// <summary>Per-channel importance, summed over the producers: L1 or L2 norm of each output channel's weights.</summary>
    public static double[] Norms(Graph graph, ChannelGroup group, int channels, bool l2)
    {
        var scores = new double[channels];
        foreach (var p in group.Producers)
        {
            var weight = graph.TryGetConstant(p.Inputs[1])!;
            int axis = OutputAxis(p);
            long outer = 1, inner = 1;
            for (int d = 0; d < axis; d++) outer *= weight.Dims[d];
            for (int d = axis + 1; d < weight.Dims.Count; d++) inner *= weight.Dims[d];
            WeightPruning.AddChannelNorms(weight.AsFloat(), (int)outer, channels, (int)inner, l2, scores);
        }
        return scores;
    }

    /// <summary>Σ|γ| of the BatchNormalizations the channels pass through; null when there are none.</summary>
    public static double[]? Gammas(Graph graph, ChannelGroup group, int channels)
    {
        if (group.Norms.Count == 0) return null;
        var scores = new double[channels];
        foreach (var bn in group.Norms)
        {
            var gamma = graph.TryGetConstant(bn.Inputs[1])!.AsFloat();
            for (int c = 0; c < channels; c++) scores[c] += Math.Abs(gamma[c]);
        }
        return scores;
    }
}
