using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>One reader of a weight and the teacher statistics its input needs.</summary>
/// <param name="Node">A MatMul, Gemm or Conv reading the weight as input 1.</param>
/// <param name="Request">The statistics of its input 0 (Gemm transA = 1: columns of A; Conv: im2col patches).</param>
public sealed record WeightReader(Node Node, StatisticsRequest Request);

/// <summary>
/// A MatMul/Gemm/Conv weight viewed as [K, N] (K input features, N outputs: MatMul layout), with its readers.
/// <paramref name="Transposed"/>: it is stored [N, K] (Gemm transB = 1; Conv [M, C/g, kH, kW] is [M, K] with
/// K = C/g · kH · kW in the order of <see cref="ConvPatches"/>). A grouped Conv is <paramref name="Groups"/>
/// independent layers [K, N/groups], each with its own statistics (<see cref="ReadGroup"/>).
/// </summary>
public sealed record LinearWeight(Constant Constant, IReadOnlyList<WeightReader> Readers, bool Transposed, int Rows, int Columns, int Groups = 1)
{
    /// <summary>True for a Conv weight.</summary>
    public bool IsConv => Readers[0].Request.Conv is not null;

    /// <summary>Outputs per group, N / groups.</summary>
    public int GroupColumns => Columns / Groups;

    /// <summary>The weight as [K, N] float32 (a copy; transposed from [N, K] when stored so).</summary>
    public float[] ReadRowsByInput()
    {
        var values = Constant.AsFloat().ToArray();
        return Transposed ? TeacherLayers.Transpose(values, Columns, Rows) : values;
    }

    /// <summary>Values in [K, N] order rearranged into the stored layout (e.g. quantized codes).</summary>
    public T[] ToStoredLayout<T>(T[] rowsByInput) => Transposed ? TeacherLayers.Transpose(rowsByInput, Rows, Columns) : rowsByInput;

    /// <summary>Group <paramref name="group"/>'s weight as [K, N/groups] (the whole [K, N] view for one group).</summary>
    public float[] ReadGroup(ReadOnlySpan<float> stored, int group)
    {
        // Transposed straight from the stored values (often a view of the mapped file), without a copy first.
        if (Groups == 1) return Transposed ? TeacherLayers.Transpose(stored, Columns, Rows) : stored.ToArray();
        int n = GroupColumns;
        return TeacherLayers.Transpose(stored.Slice(group * n * Rows, n * Rows), n, Rows);
    }

    /// <summary>Writes group <paramref name="group"/>'s [K, N/groups] values into <paramref name="stored"/> (the stored layout).</summary>
    public void WriteGroup<T>(Span<T> stored, int group, T[] rowsByInput)
    {
        if (Groups == 1) ToStoredLayout(rowsByInput).CopyTo(stored);
        else TeacherLayers.Transpose(rowsByInput, Rows, GroupColumns).CopyTo(stored.Slice(group * GroupColumns * Rows));
    }
}

/// <summary>
/// Finds what teacher-guided passes (GPTQ, SparseGPT, bias correction, refits) need about a weight: its readers,
/// their input statistics from <see cref="TeacherStatistics"/>, and the bias its output shift goes into.
/// </summary>
/// <remarks>
/// Handled: a 2-D float32 weight read only as input 1 of MatMul or Gemm nodes of the main graph, all agreeing on
/// its layout, or a 3-D/4-D one read only as input 1 of Conv nodes (1-D/2-D) with the same group count. Several
/// readers add their H (the error over all readers is minimised). Every "no" comes with a reason for the pass's
/// skip or note.
/// </remarks>
public static class TeacherLayers
{
    /// <summary>The weight's [K, N] view and readers, or null with a <paramref name="reason"/>.</summary>
    public static LinearWeight? Find(Constant weight, out string? reason)
    {
        reason = null;
        var graph = weight.Graph;
        if (graph.Parent is not null) { reason = "it lives in a subgraph, where teacher statistics are not collected"; return null; }
        var readers = new List<WeightReader>();
        bool? transposed = null;
        int? groups = null;
        foreach (var (node, index) in graph.GetConsumers(weight.Name))
        {
            bool gemm = node.Is("Gemm"), conv = node.Is("Conv");
            if (index != 1 || !(gemm || conv || node.Is("MatMul")) || node.Graph != graph)
            {
                reason = $"{node} reads it as input {index}, which reconstruction does not handle";
                return null;
            }
            if (conv)
            {
                if (Geometry(node, weight, out reason) is not { } geometry) return null;
                if (groups is { } g && g != geometry.Group || transposed == false) { reason = "its readers disagree on its layout"; return null; }
                groups = geometry.Group;
                transposed = true;
                readers.Add(new WeightReader(node, new StatisticsRequest(node.Inputs[0], Conv: geometry)));
                continue;
            }
            bool transB = gemm && node.GetInt("transB", 0) != 0;
            if (transposed is { } t && t != transB || groups is not null) { reason = "its readers disagree on its layout"; return null; }
            transposed = transB;
            readers.Add(new WeightReader(node, new StatisticsRequest(node.Inputs[0], gemm && node.GetInt("transA", 0) != 0)));
        }
        if (readers.Count == 0) { reason = "nothing reads it"; return null; }
        if (weight.DataType != 1) { reason = "it is not a float32 weight"; return null; }
        if (groups is { } convGroups)
        {
            var dims = weight.Dims;
            if (dims[0] % convGroups != 0) { reason = $"its {dims[0]} output channels do not split into {convGroups} groups"; return null; }
            long k = 1;
            for (int d = 1; d < dims.Count; d++) k *= dims[d];
            return new LinearWeight(weight, readers, true, (int)k, (int)dims[0], convGroups);
        }
        if (weight.Dims.Count != 2) { reason = "it is not a 2-D float32 weight"; return null; }
        bool tr = transposed!.Value;
        return new LinearWeight(weight, readers, tr, (int)weight.Dims[tr ? 1 : 0], (int)weight.Dims[tr ? 0 : 1]);
    }

    // A 1-D or 2-D Conv's geometry from its attributes (kernel from the weight when kernel_shape is absent).
    private static ConvGeometry? Geometry(Node node, Constant weight, out string? reason)
    {
        reason = null;
        int rank = weight.Dims.Count - 2;
        if (rank is not (1 or 2)) { reason = $"{node} is a {rank}-D convolution; im2col statistics are kept for 1-D and 2-D"; return null; }
        int[] Ints(string name, int count, int fallback)
        {
            var values = node.GetInts(name);
            var result = new int[count];
            for (int i = 0; i < count; i++) result[i] = values is { Count: > 0 } ? (int)values[i] : fallback;
            return result;
        }
        var kernel = new int[rank];
        for (int i = 0; i < rank; i++) kernel[i] = (int)weight.Dims[2 + i];
        var strides = Ints("strides", rank, 1);
        var dilations = Ints("dilations", rank, 1);
        var pads = Ints("pads", 2 * rank, 0);
        string autoPad = node.GetString("auto_pad", "NOTSET")!;
        int group = (int)node.GetInt("group", 1);
        return rank == 2
            ? new ConvGeometry(kernel[0], kernel[1], strides[0], strides[1], dilations[0], dilations[1], pads[0], pads[1], pads[2], pads[3], autoPad, group)
            : new ConvGeometry(1, kernel[0], 1, strides[0], 1, dilations[0], 0, pads[0], 0, pads[1], autoPad, group);
    }

    /// <summary>Collects the statistics of all <paramref name="weights"/>' readers in one run of the teacher.</summary>
    public static void Prefetch(TeacherStatistics teacher, IEnumerable<LinearWeight> weights)
    {
        var requests = weights.SelectMany(w => w.Readers).Select(r => r.Request).Distinct().ToList();
        if (requests.Count > 0) teacher.Collect(requests);
    }

    /// <summary>
    /// H [K, K] summed over the readers, and the mean input (of the last reader; bias correction wants a single
    /// one), of <paramref name="group"/> for a grouped Conv; or null with a <paramref name="reason"/>. With one
    /// reader, H is the collected statistics' own matrix: a pass may consume it (GPTQ factors it in place) only as its
    /// last use before releasing the layer, since another weight reading the same input then collects it afresh.
    /// With several readers it is a new matrix, which the caller disposes.
    /// </summary>
    public static (SymmetricMatrix SecondMoment, double[] Mean)? Statistics(TeacherStatistics teacher, LinearWeight weight, out string? reason, int group = 0)
    {
        reason = null;
        int k = weight.Rows;
        var collected = teacher.Collect(weight.Readers.Select(r => r.Request).ToList());
        SymmetricMatrix? h = null;
        double[]? mean = null;
        foreach (var reader in weight.Readers)
        {
            if (!collected.TryGetValue(reader.Request, out var s) || s.Features != k || s.Groups != weight.Groups)
            {
                reason = teacher.Problems.TryGetValue(reader.Request, out var p) ? p : $"no statistics with {k} features for '{reader.Request.Value}'";
                if (weight.Readers.Count > 1) h?.Dispose();
                return null;
            }
            var part = s.SecondMoment(group);
            if (h is null) h = weight.Readers.Count == 1 ? part : part.Clone();
            else h.Add(part);
            mean = s.Groups == 1 ? s.Mean() : s.Mean().AsSpan(group * k, k).ToArray();
        }
        return (h!, mean!);
    }

    /// <summary>Frees the statistics of <paramref name="weight"/>'s readers (the pass is done with it).</summary>
    public static void Release(TeacherStatistics teacher, LinearWeight weight) => teacher.Release(weight.Readers.Select(r => r.Request));

    /// <summary>
    /// The bias a single reader's output shift goes into: Gemm's C, or the constant of the one Add reading a
    /// MatMul's output; float32 with one value per output, read by nobody else. <paramref name="factor"/> is what
    /// an output shift is multiplied by to become a bias shift (α/β for Gemm, 1 for Add). Null with a reason.
    /// </summary>
    public static Constant? FindBias(LinearWeight weight, out float factor, out string? reason) => FindBias(weight, false, out factor, out reason);

    /// <summary>
    /// As <see cref="FindBias(LinearWeight, out float, out string?)"/>; with <paramref name="addToConv"/>, a Conv without
    /// a bias input gets a zero one [M] (a new initializer) to receive the shift.
    /// </summary>
    public static Constant? FindBias(LinearWeight weight, bool addToConv, out float factor, out string? reason)
    {
        factor = 1;
        reason = null;
        if (weight.Readers.Count != 1) { reason = "several readers"; return null; }
        var node = weight.Readers[0].Node;
        var graph = node.Graph!;
        Constant? bias = null;
        if (node.Is("Conv"))
        {
            if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0) bias = graph.TryGetConstant(node.Inputs[2]);
            else if (addToConv)
            {
                bias = Weights.Add(graph, weight.Constant.Name + "_bias", 1, [(long)weight.Columns], new byte[4 * weight.Columns]);
                if (node.Inputs.Count == 3) node.SetInput(2, bias.Name);
                else node.AddInput(bias.Name);
            }
        }
        else if (node.Is("Gemm") && node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
        {
            float beta = node.GetFloat("beta", 1);
            factor = beta == 0 ? 0 : node.GetFloat("alpha", 1) / beta;
            bias = graph.TryGetConstant(node.Inputs[2]);
        }
        else if (node.Is("MatMul") && !graph.MustKeepName(node.Outputs[0]) && graph.GetConsumers(node.Outputs[0]) is [{ Node: var add, Index: var at }] && add.Is("Add"))
        {
            bias = graph.TryGetConstant(add.Inputs[1 - at]);
        }
        int n = weight.Columns;
        if (bias is null || factor == 0 || bias.DataType != 1 || bias.ElementCount != n || bias.UseCount != 1 || bias.Dims.Any(d => d != 1 && d != n))
        {
            reason = "no float32 bias of its own with one value per output";
            return null;
        }
        return bias;
    }

    /// <summary>
    /// Bias correction after a lossy rewrite of <paramref name="weight"/> (rows by input, as <see cref="LinearWeight.ReadRowsByInput"/>,
    /// or group <paramref name="group"/>'s [K, N/groups] for a grouped Conv): the expected output shift (W − Ŵ)ᵀμ goes
    /// into its bias when it has one of its own (a Conv without one gets one). Returns the note's suffix.
    /// </summary>
    public static string CorrectBias(LinearWeight weight, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, ReadOnlySpan<double> mean, int group = 0)
    {
        if (FindBias(weight, addToConv: true, out float factor, out string? why) is not { } target) return $"; bias not corrected ({why})";
        int n = weight.GroupColumns;
        var shift = new float[weight.Columns];
        BiasCorrection.OutputShift(original, compressed, weight.Rows, n, mean, shift.AsSpan(group * n, n));
        AddToBias(target, shift, factor);
        return $"; bias '{target.Name}' corrected";
    }

    /// <summary>bias += factor · shift, written back into the constant.</summary>
    public static void AddToBias(Constant bias, ReadOnlySpan<float> shift, float factor)
    {
        var corrected = bias.AsFloat().ToArray();
        TensorPrimitives.MultiplyAdd(shift, factor, corrected, corrected);
        bias.Replace(1, bias.Dims.ToArray(), MemoryMarshal.AsBytes(corrected.AsSpan()).ToArray());
    }

    internal static T[] Transpose<T>(ReadOnlySpan<T> source, int rows, int columns)
    {
        var result = new T[source.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++) result[c * rows + r] = source[r * columns + c];
        return result;
    }
}
