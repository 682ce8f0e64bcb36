namespace CompressTasks.Kernels.Reconstruction;

/// <summary>GPTQ settings: rows per lazy-update block, damping fraction, activation order.</summary>
/// <param name="BlockSize">Rows quantized before the rest of the weight is updated at once (128 in the paper).</param>
/// <param name="Damp">λ = damp · mean(diag H) added to H's diagonal (0.01 in the paper).</param>
/// <param name="ActOrder">Quantize rows in order of decreasing H[k, k] (inputs with the most energy first).</param>
public sealed record GptqOptions(int BlockSize = 128, double Damp = 0.01, bool ActOrder = false);

/// <summary>What one GPTQ call did.</summary>
/// <param name="DampUsed">The damping fraction that made H definite (larger than asked when H was nearly singular).</param>
/// <param name="DeadInputs">Inputs that were always zero in the calibration data (their rows are rounded to nearest).</param>
/// <param name="Error">tr(Δᵀ H Δ) of the result on the undamped H: the layer's squared output error on the calibration data.</param>
public readonly record struct ReconstructionInfo(double DampUsed, int DeadInputs, double Error);

/// <summary>
/// GPTQ (Frantar et al., 2022): quantizes a weight [K, N] (MatMul layout) row by row, pushing each row's rounding
/// error onto the rows not yet quantized so that the layer output Xᵀ W changes as little as possible on the
/// calibration inputs whose second moment is H = Σ x xᵀ.
/// </summary>
/// <remarks>
/// <code>
///   H ← H + λ I;  U = chol(H⁻¹), upper (H⁻¹ = Uᵀ U)
///   for each row k in order:  q_k = quant(w_k);  e = (w_k − q_k) / U[k, k];  w_j ← w_j − U[k, j] · e  for j &gt; k
/// </code>
/// The updates of rows past the current block of <see cref="GptqOptions.BlockSize"/> rows are gathered and applied
/// once per block (lazy batch updates), in parallel over rows; each row is updated by one thread in a fixed order,
/// so the result is deterministic. Inputs never seen non-zero (H[k, k] = 0) get H[k, k] = 1: their rows are rounded
/// to nearest on their own (the paper zeroes them, which breaks inputs that fire on held-out data). With
/// act-order, groups are fitted from the original weights before any row is quantized (they stay in the original
/// row order, so the output layout is that of round to nearest); without it each group is fitted when its first
/// row is reached, from the already corrected rows. Memory: the weights, U in H's place (a copy of H's triangle
/// with <see cref="Quantize"/>, none with <see cref="QuantizeInPlace"/>) and one block of errors.
/// </remarks>
public static class Gptq
{
    /// <summary>
    /// Quantizes <paramref name="weights"/> [K, N] with <paramref name="quantizer"/> (K = quantizer.Rows) into
    /// <paramref name="result"/> ([K, N], not overlapping the weights): on return it holds the dequantized values and
    /// the quantizer the codes, scales and zero points. <paramref name="hessian"/> is left as it was (the factor goes
    /// into a copy).
    /// </summary>
    public static ReconstructionInfo Quantize(ReadOnlySpan<float> weights, Span<float> result, SymmetricMatrix hessian, WeightQuantizer quantizer, GptqOptions options) =>
        QuantizeInPlace(weights, result, Checked(hessian, quantizer).Clone(), quantizer, options);

    /// <summary>
    /// As <see cref="Quantize"/>, with <paramref name="hessian"/> factored in place and disposed: for statistics
    /// released right after, where a copy would double the memory of the widest layers. The result is the same bits
    /// as <see cref="Quantize"/>'s.
    /// </summary>
    public static unsafe ReconstructionInfo QuantizeInPlace(ReadOnlySpan<float> weights, Span<float> result, SymmetricMatrix hessian, WeightQuantizer quantizer, GptqOptions options)
    {
        int k = quantizer.Rows, n = quantizer.Columns;
        try
        {
            Checked(hessian, quantizer);
            if (weights.Length != (long)k * n || result.Length != weights.Length) throw new ArgumentException($"weights and result must be [{k}, {n}]");
            if (weights.Overlaps(result)) throw new ArgumentException("the result must not overlap the weights", nameof(result));
        }
        catch
        {
            hessian.Dispose();
            throw;
        }
        fixed (float* pinned = result)
        {
            using var work = new Workspace(k, n, Math.Max(1, options.BlockSize), hessian, pinned);
            return Run(weights, quantizer, options, work);
        }
    }

    private static SymmetricMatrix Checked(SymmetricMatrix hessian, WeightQuantizer quantizer) =>
        hessian.Order == quantizer.Rows ? hessian : throw new ArgumentException($"H must be [{quantizer.Rows}, {quantizer.Rows}]", nameof(hessian));

    private static ReconstructionInfo Run(ReadOnlySpan<float> weights, WeightQuantizer quantizer, GptqOptions options, Workspace work)
    {
        int k = quantizer.Rows, n = quantizer.Columns;
        int block = Math.Max(1, options.BlockSize);
        var order = new int[k];
        int dead = work.Prepare(weights, options.ActOrder, options.Damp, order, out double damp);
        if (options.ActOrder)
        {
            for (int g = 0; g < quantizer.Groups; g++)
            {
                int start = g * quantizer.GroupSize, count = Math.Min(quantizer.GroupSize, k - start);
                quantizer.Fit(g, weights.Slice(start * n, count * n));
            }
        }
        var dequantized = work.Row;
        for (int b0 = 0; b0 < k; b0 += block)
        {
            int b1 = Math.Min(k, b0 + block);
            for (int i = b0; i < b1; i++)
            {
                int original = order[i];
                if (!options.ActOrder && original % quantizer.GroupSize == 0)
                    quantizer.Fit(quantizer.GroupOf(original), work.WeightRows(i, Math.Min(quantizer.GroupSize, k - i)));
                quantizer.QuantizeRow(original, work.WeightRow(i), dequantized);
                work.Propagate(i, b1, dequantized);
            }
            work.LazyUpdate(b0, b1);
        }
        double error = work.Error(weights, order);
        work.Restore(order);
        return new ReconstructionInfo(damp, dead, error);
    }
}
