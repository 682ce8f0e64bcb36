using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Quantizes a weight [K, N] in MatMul layout (K input features, N output columns) one input row at a time, as
/// GPTQ needs: parameters are fitted per group of <see cref="GroupSize"/> consecutive rows (one scale and zero
/// point per output column and group), then each row is rounded and its dequantized value handed back.
/// </summary>
/// <remarks>
/// Run on every row in order with each group fitted from the weights as given, it is round to nearest (RTN):
/// <see cref="QuantizeNearest"/>. GPTQ calls <see cref="Fit"/> and <see cref="QuantizeRow"/> itself, on rows it
/// has already corrected. Either way the result is <see cref="Codes"/> [K, N], <see cref="Scales"/> and
/// <see cref="ZeroPoints"/> [K / GroupSize, N]: what a pass writes out.
/// </remarks>
public abstract class WeightQuantizer
{
    /// <summary>Creates storage for a [rows, columns] weight with parameters per group of <paramref name="groupSize"/> rows.</summary>
    protected WeightQuantizer(int rows, int columns, int groupSize)
    {
        if (rows < 1 || columns < 1) throw new ArgumentOutOfRangeException(nameof(rows), $"bad weight shape [{rows}, {columns}]");
        if (groupSize < 1 || groupSize > rows) groupSize = rows;
        Rows = rows;
        Columns = columns;
        GroupSize = groupSize;
        Groups = (rows + groupSize - 1) / groupSize;
        Codes = new byte[(long)rows * columns];
        Scales = new float[Groups * columns];
        ZeroPoints = new byte[Groups * columns];
    }

    /// <summary>K: input features (rows of the MatMul-layout weight).</summary>
    public int Rows { get; }

    /// <summary>N: output columns.</summary>
    public int Columns { get; }

    /// <summary>Rows per parameter group (K for one group, i.e. per output channel).</summary>
    public int GroupSize { get; }

    /// <summary>Number of row groups, ⌈K / GroupSize⌉; the last may be shorter.</summary>
    public int Groups { get; }

    /// <summary>
    /// Quantized values [K, N], one per byte: signed formats as two's complement (read them through
    /// <c>MemoryMarshal.Cast&lt;byte, sbyte&gt;</c>), unsigned ones as is.
    /// </summary>
    public byte[] Codes { get; }

    /// <summary>Scales [Groups, N].</summary>
    public float[] Scales { get; }

    /// <summary>Zero points [Groups, N] (0 for symmetric formats), same encoding as <see cref="Codes"/>.</summary>
    public byte[] ZeroPoints { get; }

    /// <summary>The group that row <paramref name="row"/> belongs to.</summary>
    public int GroupOf(int row) => row / GroupSize;

    /// <summary>Fits the parameters of <paramref name="group"/> from its rows (<c>rows</c>: [rowsInGroup, N]).</summary>
    public abstract void Fit(int group, ReadOnlySpan<float> rows);

    /// <summary>
    /// Rounds <paramref name="values"/> (row <paramref name="row"/>, N values) with its group's parameters, stores
    /// the codes and writes the dequantized row into <paramref name="dequantized"/>.
    /// </summary>
    public abstract void QuantizeRow(int row, ReadOnlySpan<float> values, Span<float> dequantized);

    /// <summary>
    /// Round to nearest: fits every group from <paramref name="weights"/> [K, N] and quantizes every row; writes
    /// the dequantized weights to <paramref name="dequantized"/> (may be empty to skip).
    /// </summary>
    public void QuantizeNearest(ReadOnlySpan<float> weights, Span<float> dequantized)
    {
        int n = Columns;
        if (weights.Length != (long)Rows * n) throw new ArgumentException($"weights must be [{Rows}, {n}]", nameof(weights));
        var row = new float[n];
        for (int g = 0; g < Groups; g++)
        {
            int start = g * GroupSize, count = Math.Min(GroupSize, Rows - start);
            Fit(g, weights.Slice(start * n, count * n));
        }
        for (int k = 0; k < Rows; k++)
        {
            QuantizeRow(k, weights.Slice(k * n, n), row);
            if (!dequantized.IsEmpty) row.CopyTo(dequantized.Slice(k * n, n));
        }
    }
}

/// <summary>
/// Linear b-bit quantization (b = 2…8), the formulas of <see cref="Int8Quantization"/> generalised:
/// <code>
///   symmetric:  qmax = 2^(b−1) − 1, s = max|w| / qmax, z = 0, q = clamp(round(w / s), −qmax, qmax)      (signed codes)
///   asymmetric: qmax = 2^b − 1, s = (max(w, 0) − min(w, 0)) / qmax, z = clamp(round(−min(w, 0) / s), 0, qmax),
///               q = clamp(round(w / s) + z, 0, qmax)                                                     (unsigned codes)
///   w' = (q − z) · s       round half to even; an all-zero group column gets s = 1
/// </code>
/// At 8 bits with one group (per output channel) the codes, scales and zero points are exactly those of
/// <see cref="Int8Quantization"/> on the same weights. The int4 block format (MatMulNBits, DequantizeLinear int4
/// with block_size) is 4 bits with <c>groupSize</c> = the block size; a symmetric code q maps to MatMulNBits'
/// unsigned q + 8 with zero point 8.
/// </summary>
public sealed class LinearWeightQuantizer : WeightQuantizer
{
    private readonly float[] _scratch;
    private readonly float[] _zero;

    /// <summary>A quantizer for a [rows, columns] weight; <paramref name="groupSize"/> ≤ 0 means one group (per channel).</summary>
    public LinearWeightQuantizer(int rows, int columns, int bits, bool symmetric, int groupSize = 0)
        : base(rows, columns, groupSize)
    {
        if (bits is < 2 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), bits, "2 to 8 bits");
        Bits = bits;
        Symmetric = symmetric;
        Max = symmetric ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
        _scratch = new float[columns];
        _zero = new float[Groups * columns];
    }

    /// <summary>Bits per code.</summary>
    public int Bits { get; }

    /// <summary>True for signed codes with zero point 0.</summary>
    public bool Symmetric { get; }

    /// <summary>The largest code magnitude (symmetric) or code (asymmetric).</summary>
    public int Max { get; }

    /// <inheritdoc/>
    public override void Fit(int group, ReadOnlySpan<float> rows)
    {
        int n = Columns;
        var scales = Scales.AsSpan(group * n, n);
        var zero = _zero.AsSpan(group * n, n);
        scales.Clear();
        zero.Clear(); // zero holds min(w, 0) until the end
        for (int r = 0; r < rows.Length / n; r++)
        {
            var row = rows.Slice(r * n, n);
            if (Symmetric)
            {
                TensorPrimitives.Abs(row, _scratch);
                TensorPrimitives.Max(scales, _scratch, scales);
            }
            else
            {
                TensorPrimitives.Max(scales, row, scales);
                TensorPrimitives.Min(zero, row, zero);
            }
        }
        for (int c = 0; c < n; c++)
        {
            if (Symmetric)
            {
                scales[c] = scales[c] > 0 ? scales[c] / Max : 1f;
                continue;
            }
            float range = scales[c] - zero[c];
            float scale = range > 0 ? range / Max : 1f;
            scales[c] = scale;
            zero[c] = Math.Clamp(MathF.Round(-zero[c] / scale, MidpointRounding.ToEven), 0, Max);
            ZeroPoints[group * n + c] = (byte)zero[c];
        }
    }

    /// <inheritdoc/>
    public override void QuantizeRow(int row, ReadOnlySpan<float> values, Span<float> dequantized)
    {
        int n = Columns, group = GroupOf(row);
        var scales = Scales.AsSpan(group * n, n);
        var zero = _zero.AsSpan(group * n, n);
        var q = _scratch.AsSpan();
        TensorPrimitives.Divide(values, scales, q);
        TensorPrimitives.Round(q, q);
        if (Symmetric) TensorPrimitives.Clamp(q, -Max, Max, q);
        else
        {
            TensorPrimitives.Add(q, zero, q);
            TensorPrimitives.Clamp(q, 0, Max, q);
        }
        var codes = Codes.AsSpan(row * n, n);
        if (Symmetric) TensorPrimitives.ConvertTruncating<float, sbyte>(q, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(codes));
        else TensorPrimitives.ConvertTruncating<float, byte>(q, codes);
        if (!Symmetric) TensorPrimitives.Subtract(q, zero, q);
        TensorPrimitives.Multiply(q, scales, dequantized);
    }
}
