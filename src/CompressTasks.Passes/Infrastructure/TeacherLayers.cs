using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels.Reconstruction;
using CompressTasks.Runtime.Calibration;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>One reader of a weight and the teacher statistics its input needs.</summary>
/// <param name="Node">A MatMul or Gemm reading the weight as input 1.</param>
/// <param name="Request">The statistics of its input 0 (Gemm transA = 1: columns of A).</param>
public sealed record WeightReader(Node Node, StatisticsRequest Request);

/// <summary>
/// A MatMul/Gemm weight viewed as [K, N] (K input features, N outputs: MatMul layout), with its readers.
/// <paramref name="Transposed"/>: it is stored [N, K] (Gemm transB = 1).
/// </summary>
public sealed record LinearWeight(Constant Constant, IReadOnlyList<WeightReader> Readers, bool Transposed, int Rows, int Columns)
{
    /// <summary>The weight as [K, N] float32 (a copy; transposed from [N, K] when stored so).</summary>
    public float[] ReadRowsByInput()
    {
        var values = Constant.AsFloat().ToArray();
        return Transposed ? TeacherLayers.Transpose(values, Columns, Rows) : values;
    }

    /// <summary>Values in [K, N] order rearranged into the stored layout (e.g. quantized codes).</summary>
    public T[] ToStoredLayout<T>(T[] rowsByInput) => Transposed ? TeacherLayers.Transpose(rowsByInput, Rows, Columns) : rowsByInput;
}

/// <summary>
/// Finds what teacher-guided passes (GPTQ, SparseGPT, bias correction, refits) need about a weight: its readers,
/// their input statistics from <see cref="TeacherStatistics"/>, and the bias its output shift goes into.
/// </summary>
/// <remarks>
/// Handled: a 2-D float32 weight read only as input 1 of MatMul or Gemm nodes of the main graph, all agreeing on
/// its layout. Several readers add their H (the error over all readers is minimised). Conv is not handled (no im2col
/// statistics yet). Every "no" comes with a reason for the pass's skip or note.
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
        foreach (var (node, index) in graph.GetConsumers(weight.Name))
        {
            bool gemm = node.Is("Gemm");
            if (index != 1 || !(gemm || node.Is("MatMul")) || node.Graph != graph)
            {
                reason = node.Is("Conv") ? "Conv is not reconstructed yet (no im2col statistics)" : $"{node} reads it as input {index}, which reconstruction does not handle";
                return null;
            }
            bool transB = gemm && node.GetInt("transB", 0) != 0;
            if (transposed is { } t && t != transB) { reason = "its readers disagree on its layout"; return null; }
            transposed = transB;
            readers.Add(new WeightReader(node, new StatisticsRequest(node.Inputs[0], gemm && node.GetInt("transA", 0) != 0)));
        }
        if (readers.Count == 0) { reason = "nothing reads it"; return null; }
        if (weight.Dims.Count != 2 || weight.DataType != 1) { reason = "it is not a 2-D float32 weight"; return null; }
        bool tr = transposed!.Value;
        return new LinearWeight(weight, readers, tr, (int)weight.Dims[tr ? 1 : 0], (int)weight.Dims[tr ? 0 : 1]);
    }

    /// <summary>Collects the statistics of all <paramref name="weights"/>' readers in one run of the teacher.</summary>
    public static void Prefetch(TeacherStatistics teacher, IEnumerable<LinearWeight> weights)
    {
        var requests = weights.SelectMany(w => w.Readers).Select(r => r.Request).Distinct().ToList();
        if (requests.Count > 0) teacher.Collect(requests);
    }

    /// <summary>
    /// H [K, K] summed over the readers, and the mean input (of the last reader; bias correction wants a single
    /// one), or null with a <paramref name="reason"/>.
    /// </summary>
    public static (double[] SecondMoment, double[] Mean)? Statistics(TeacherStatistics teacher, LinearWeight weight, out string? reason)
    {
        reason = null;
        int k = weight.Rows;
        var collected = teacher.Collect(weight.Readers.Select(r => r.Request).ToList());
        double[]? h = null, mean = null;
        foreach (var reader in weight.Readers)
        {
            if (!collected.TryGetValue(reader.Request, out var s) || s.Features != k)
            {
                reason = teacher.Problems.TryGetValue(reader.Request, out var p) ? p : $"no statistics with {k} features for '{reader.Request.Value}'";
                return null;
            }
            if (h is null) h = weight.Readers.Count == 1 ? s.SecondMoment : (double[])s.SecondMoment.Clone();
            else TensorPrimitives.Add(h, s.SecondMoment, h);
            mean = s.Mean();
        }
        return (h!, mean!);
    }

    /// <summary>
    /// The bias a single reader's output shift goes into: Gemm's C, or the constant of the one Add reading a
    /// MatMul's output; float32 with one value per output, read by nobody else. <paramref name="factor"/> is what
    /// an output shift is multiplied by to become a bias shift (α/β for Gemm, 1 for Add). Null with a reason.
    /// </summary>
    public static Constant? FindBias(LinearWeight weight, out float factor, out string? reason)
    {
        factor = 1;
        reason = null;
        if (weight.Readers.Count != 1) { reason = "several readers"; return null; }
        var node = weight.Readers[0].Node;
        var graph = node.Graph!;
        Constant? bias = null;
        if (node.Is("Gemm") && node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
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
    /// Bias correction after a lossy rewrite of <paramref name="weight"/> (rows by input, as <see cref="LinearWeight.ReadRowsByInput"/>):
    /// the expected output shift (W − Ŵ)ᵀμ goes into its bias when it has one of its own. Returns the note's suffix.
    /// </summary>
    public static string CorrectBias(LinearWeight weight, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, ReadOnlySpan<double> mean)
    {
        if (FindBias(weight, out float factor, out string? why) is not { } target) return $"; bias not corrected ({why})";
        var shift = new float[weight.Columns];
        BiasCorrection.OutputShift(original, compressed, weight.Rows, weight.Columns, mean, shift);
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

    internal static T[] Transpose<T>(T[] source, int rows, int columns)
    {
        var result = new T[source.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++) result[c * rows + r] = source[r * columns + c];
        return result;
    }
}
