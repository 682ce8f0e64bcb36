using System.Globalization;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Kernels;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Pruning;

/// <summary>
/// Unstructured magnitude pruning: the smallest-magnitude weights of MatMul, Gemm and Conv become exact zeros.
/// </summary>
/// <remarks>
/// <code>
///   W: float32 [..] ─▶ MatMul/Gemm/Conv      ⇒      W': float32 [..], same name and shape ─▶ the same readers
///   W'[i] = 0 where |W[i]| is among the k smallest, else W[i]
/// </code>
/// How many, in order of precedence: <c>pattern: N:M</c> keeps the N largest of every M consecutive weights along
/// the reduction axis (MatMul [K, N]: K; Gemm: K, whichever way transB lays it out; Conv [O, I/g, kh, kw]: I/g);
/// <c>threshold</c> zeroes |w| &lt; t; <c>relative-threshold</c> zeroes |w| &lt; r·σ(W) per tensor; otherwise
/// <c>sparsity</c> s zeroes k = round(s·n) per tensor (<c>scope: layer</c>), or one magnitude threshold across all
/// selected tensors (<c>scope: global</c>), each tensor capped at <c>max-layer-sparsity</c>. Ties go by index.
/// Storage: the pruned tensor is the same size dense (zeros compress well with zip/gzip, not on disk);
/// <c>storage: sparse</c> moves it to <c>sparse_initializer</c> (12 bytes per non-zero: pays above 2/3 sparsity),
/// <c>auto</c> does that only where it is smaller. Preconditions (skips, with a reason): W is a float32 constant
/// chosen by <see cref="WeightSelection"/>, read only by selected nodes (a weight shared with another op stays as it
/// is); for N:M the readers agree on the reduction axis and it is a multiple of M. <c>method: sparsegpt</c> and
/// <c>bias-correction: true</c> prune MatMul/Gemm/Conv weights against the teacher's statistics on the recipe's
/// calibration data (same zero count or N:M pattern, surviving weights updated; see <see cref="SparseReconstruction"/>);
/// without calibration data every candidate is skipped, saying so.
/// </remarks>
public sealed class PruneMagnitude : GraphPass
{
    private static readonly string[] Supported = ["MatMul", "Gemm", "Conv"];

    public override PassDescriptor Descriptor { get; } = new(
        "prune-magnitude", PassKind.Pruning,
        "Zeroes the smallest-magnitude MatMul/Gemm/Conv weights (target sparsity, threshold or N:M pattern); optionally stores them as sparse initializers.",
        [
            ParameterSpec.Ratio("sparsity", 0.5, "Fraction of each selected weight to zero (or of all of them, with scope: global)."),
            ParameterSpec.Enum("scope", "layer", ["layer", "global"], "layer: every tensor reaches the sparsity; global: one magnitude threshold across all selected tensors."),
            ParameterSpec.Ratio("max-layer-sparsity", 0.95, "scope: global only: no tensor is pruned beyond this fraction."),
            ParameterSpec.Float("threshold", 0, "When > 0: zero every |w| below this absolute value instead of a target sparsity.", minimum: 0),
            ParameterSpec.Float("relative-threshold", 0, "When > 0: zero every |w| below this multiple of the tensor's standard deviation.", minimum: 0),
            ParameterSpec.Enum("pattern", "none", ["none", "1:4", "2:4", "4:8"], "N:M: keep the N largest of every M consecutive weights along the reduction axis (overrides sparsity)."),
            ParameterSpec.Enum("storage", "auto", ["dense", "sparse", "auto"], "dense: zeros in place; sparse: sparse_initializer (IR 6+); auto: sparse where that is smaller."),
            .. WeightSelection.Parameters(Supported, 1024),
            .. SparseReconstruction.Parameters,
        ],
        "- prune-magnitude: { sparsity: 0.8, scope: global, storage: auto, keep-last: true }");

    private sealed record Target(Constant Weight, List<Node> Readers, float[] Values);

    public override void Run(Graph main, PassArguments arguments, PassResult result) => Run(main, arguments, result, PassContext.None);

    public override void Run(Graph main, PassArguments arguments, PassResult result, PassContext context)
    {
        var selection = WeightSelection.From(arguments, Supported, result);
        var reconstruction = SparseReconstruction.Create(arguments, context, out string? missingCalibration);
        var targets = new List<Target>();
        foreach (var group in selection.Select(main, result, _ => 1).GroupBy(u => (u.Weight.Graph, u.Weight.Name)))
        {
            var weight = group.First().Weight;
            var readers = group.Select(u => u.Node).ToList();
            result.RecordMatch();
            if (missingCalibration is not null) result.Skip($"'{weight.Name}': {missingCalibration}");
            else if (weight.DataType != 1) result.Skip($"'{weight.Name}' is {Model.DataTypes.Name(weight.DataType)}, not float32");
            else if (weight.UseCount != readers.Count)
                result.Skip($"'{weight.Name}' is also read by nodes that are not selected; pruning it would change them too");
            else targets.Add(new Target(weight, readers, weight.AsFloat().ToArray()));
        }
        if (targets.Count == 0) return;
        reconstruction?.Collect(targets.Select(t => t.Weight));

        string pattern = arguments.GetString("pattern");
        double threshold = arguments.GetDouble("threshold"), relative = arguments.GetDouble("relative-threshold");
        double sparsity = arguments.GetDouble("sparsity");
        long[]? globalCounts = pattern == "none" && threshold == 0 && relative == 0 && arguments.GetString("scope") == "global"
            ? GlobalCounts(targets, sparsity, arguments.GetDouble("max-layer-sparsity"))
            : null;

        string storage = arguments.GetString("storage");
        long zeros = 0, total = 0, denseBytes = 0, storedBytes = 0;
        for (int t = 0; t < targets.Count; t++)
        {
            var (weight, readers, values) = targets[t];
            if (pattern != "none")
            {
                if (NofMView(weight, readers, pattern, out int n, out int m) is not { } view)
                {
                    result.Skip($"'{weight.Name}': its readers do not share a reduction axis that is a multiple of {m}");
                    continue;
                }
                WeightPruning.ZeroNofM(values, view.Outer, view.K, view.Inner, n, m);
            }
            else if (threshold > 0) WeightPruning.ZeroBelow(values, (float)threshold);
            else if (relative > 0) WeightPruning.ZeroBelow(values, (float)(relative * WeightPruning.MeanStdDev(values).StdDev));
            else WeightPruning.ZeroSmallest(values, globalCounts?[t] ?? (long)Math.Round(sparsity * values.Length));
            reconstruction?.Apply(weight, values, pattern == "none" ? 0 : pattern[0] - '0', pattern == "none" ? 0 : pattern[2] - '0', result);

            long zero = WeightPruning.CountZeros(values), nonZero = values.Length - zero;
            bool sparse = storage != "dense" && (storage == "sparse" || SparseStorage.SparseBytes(nonZero) < 4L * values.Length);
            string stored = "dense";
            if (sparse && SparseStorage.WhyNot(weight) is { } why)
            {
                if (storage == "sparse") result.Note($"'{weight.Name}' stays dense: {why}");
                sparse = false;
            }
            if (sparse)
            {
                SparseStorage.Store(weight, values);
                stored = $"sparse, {SparseStorage.SparseBytes(nonZero):N0} bytes";
            }
            else weight.Replace(1, weight.Dims.ToArray(), MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
            zeros += zero;
            total += values.Length;
            denseBytes += 4L * values.Length;
            storedBytes += sparse ? SparseStorage.SparseBytes(nonZero) : 4L * values.Length;
            result.Note(string.Create(CultureInfo.InvariantCulture,
                $"'{weight.Name}': {100.0 * zero / values.Length:F1}% zeros ({zero:N0} of {values.Length:N0}), {stored}"));
            result.RecordRewrite();
        }
        if (total > 0)
            result.Note(string.Create(CultureInfo.InvariantCulture,
                $"pruned {100.0 * zeros / total:F1}% of {total:N0} weights; their storage {denseBytes:N0} → {storedBytes:N0} bytes (dense zeros take the same bytes on disk; they compress under zip/gzip)"));
    }

    // Global scope: the smallest magnitude threshold t with Σ min(#{|w| < t}, cap·n) ≥ s·N, found by bisection over
    // float bit patterns (monotone for non-negative floats); each tensor then zeroes its share.
    private static long[] GlobalCounts(List<Target> targets, double sparsity, double cap)
    {
        long total = targets.Sum(t => (long)t.Values.Length);
        long wanted = (long)Math.Round(sparsity * total);
        var caps = targets.Select(t => (long)Math.Floor(cap * t.Values.Length)).ToArray();
        long Count(int bits, long[]? into)
        {
            float threshold = BitConverter.Int32BitsToSingle(bits);
            long sum = 0;
            for (int i = 0; i < targets.Count; i++)
            {
                long c = Math.Min(WeightPruning.CountBelow(targets[i].Values, threshold), caps[i]);
                if (into is not null) into[i] = c;
                sum += c;
            }
            return sum;
        }
        int lo = 0, hi = BitConverter.SingleToInt32Bits(float.PositiveInfinity);
        while (lo < hi)
        {
            int mid = lo + (hi - lo) / 2;
            if (Count(mid, null) >= wanted) hi = mid;
            else lo = mid + 1;
        }
        var counts = new long[targets.Count];
        Count(lo, counts);
        return counts;
    }

    private sealed record View(int Outer, int K, int Inner);

    // The [outer, K, inner] view with K the reduction axis, when every reader agrees and K is a multiple of M.
    private static View? NofMView(Constant weight, List<Node> readers, string pattern, out int n, out int m)
    {
        n = pattern[0] - '0';
        m = pattern[2] - '0';
        var dims = weight.Dims;
        View? agreed = null;
        foreach (var node in readers)
        {
            int axis = node.OpType switch
            {
                "Conv" => dims.Count >= 3 ? 1 : -1,
                "Gemm" => dims.Count == 2 ? (node.GetInt("transB", 0) != 0 ? 1 : 0) : -1,
                _ => dims.Count >= 2 ? dims.Count - 2 : -1,
            };
            if (axis < 0 || dims[axis] % m != 0) return null;
            long outer = 1, inner = 1;
            for (int d = 0; d < axis; d++) outer *= dims[d];
            for (int d = axis + 1; d < dims.Count; d++) inner *= dims[d];
            var view = new View((int)outer, (int)dims[axis], (int)inner);
            if (agreed is not null && agreed != view) return null;
            agreed = view;
        }
        return agreed;
    }
}
