using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// The state GPTQ and SparseGPT share: the working weights (the caller's result, rows in processing order until
/// <see cref="Restore"/>), the upper Cholesky factor U of the damped inverse second moment, and the block of scaled
/// errors waiting for the lazy update.
/// </summary>
/// <remarks>
/// U takes the place of the H it is given (<see cref="SymmetricMatrix"/>, one float triangle: 43 MB at K = 4608),
/// which the workspace owns from then on and frees on <see cref="Dispose"/>; callers that keep H pass a copy. H is
/// not needed afterwards: the output error of the result comes from the scaled errors themselves (<see cref="Error"/>).
/// The weights are worked on in the caller's result buffer, pinned for the call, so a layer's peak holds its weight
/// twice (original and result), not three times.
/// </remarks>
internal sealed unsafe class Workspace : IDisposable
{
    private readonly int _k, _n, _block;
    private SymmetricMatrix _factor;
    private float* _u;
    private readonly bool[] _dead;
    private readonly float* _w;
    private double _lambda, _scaledErrors;

    /// <summary>
    /// A workspace that consumes <paramref name="hessian"/> ([K, K]) and works in <paramref name="result"/> ([K, N],
    /// which must stay pinned until <see cref="Dispose"/>).
    /// </summary>
    public Workspace(int k, int n, int block, SymmetricMatrix hessian, float* result)
    {
        if (hessian.Order != k) throw new ArgumentException($"H must be [{k}, {k}]", nameof(hessian));
        _k = k;
        _n = n;
        _block = block;
        _factor = hessian;
        _u = hessian.Pointer;
        _dead = new bool[k];
        _w = result;
        Errors = ScratchBuffers.Rent<float>(block * n);
        Row = new float[n];
    }

    /// <summary>Row <paramref name="i"/> of the working weights (processing order).</summary>
    public Span<float> WeightRow(int i) => new(_w + (long)i * _n, _n);

    /// <summary>Rows [<paramref name="i"/>, <paramref name="i"/> + <paramref name="count"/>) of the working weights.</summary>
    public Span<float> WeightRows(int i, int count) => new(_w + (long)i * _n, count * _n);

    /// <summary>Scaled errors (w − q) / U[i, i] of the current block's rows.</summary>
    public float[] Errors { get; }

    /// <summary>One row of scratch.</summary>
    public float[] Row { get; }

    /// <summary>U[i, j], i ≤ j, in processing order (H⁻¹ = Uᵀ U).</summary>
    public float U(int i, int j) => _u[(_k - 1 - i) * _k + (_k - 1 - j)];

    /// <summary>
    /// Copies the weights (rows permuted by decreasing H[k, k] when <paramref name="actOrder"/>), decouples dead inputs,
    /// damps H and turns it into U. Fills <paramref name="order"/> (processing position → original row). Returns the
    /// number of dead inputs (rows kept).
    /// </summary>
    public int Prepare(ReadOnlySpan<float> weights, bool actOrder, double damp, int[] order, out double dampUsed)
    {
        int k = _k, n = _n, dead = 0;
        for (int i = 0; i < k; i++) order[i] = i;
        if (actOrder)
        {
            // Decreasing diagonal, ties by index: a total order, so the permutation is deterministic.
            var keys = new float[k];
            for (int i = 0; i < k; i++) keys[i] = _factor[i, i];
            Array.Sort(order, (a, b) => keys[b] != keys[a] ? keys[b].CompareTo(keys[a]) : a.CompareTo(b));
            // A permuted copy, then the original goes: act-order briefly holds two triangles.
            var permuted = _factor.Permuted(order);
            _factor.Dispose();
            _factor = permuted;
            _u = permuted.Pointer;
        }
        for (int i = 0; i < k; i++) weights.Slice(order[i] * n, n).CopyTo(WeightRow(i));
        // An input never seen non-zero gets H[i, i] = 1, which decouples it: its row is rounded on its own, with no
        // error pushed to or from it. The row is kept, not zeroed as in the paper: the input may fire on other data.
        for (int i = 0; i < k; i++)
        {
            if (_factor[i, i] != 0) continue;
            _factor[i, i] = 1;
            _dead[i] = true;
            dead++;
        }
        // λ is kept for the error of the result on the undamped H.
        dampUsed = Cholesky.InverseUpperFactor(_factor, damp, out _lambda);
        return dead;
    }

    /// <summary>
    /// tr(Δᵀ H Δ) of the rows as they are now against <paramref name="original"/> (original order), on H as given
    /// (undamped, dead inputs included): the output error on the calibration data.
    /// </summary>
    /// <remarks>
    /// Each row's final value is its original minus the updates pushed onto it: Δ = Uᵀ E, E the scaled errors. With
    /// H' = H + D the damped matrix the factor came from (D = λ I, plus 1 at dead inputs), U H' Uᵀ = I, so
    /// tr(Δᵀ H' Δ) = ‖E‖², summed as the rows went; tr(Δᵀ H Δ) = ‖E‖² − Σ_i D_i ‖Δ_i‖². No copy of H is needed.
    /// </remarks>
    public double Error(ReadOnlySpan<float> original, int[] order)
    {
        int n = _n;
        var delta = new double[n];
        var row = new double[n];
        double damped = 0;
        for (int i = 0; i < _k; i++)
        {
            TensorPrimitives.ConvertTruncating<float, double>(original.Slice(order[i] * n, n), delta);
            TensorPrimitives.ConvertTruncating<float, double>(WeightRow(i), row);
            TensorPrimitives.Subtract<double>(delta, row, delta);
            damped += (_lambda + (_dead[i] ? 1 : 0)) * TensorPrimitives.SumOfSquares<double>(delta);
        }
        return _scaledErrors - damped;
    }

    /// <summary>
    /// Row <paramref name="i"/> becomes <paramref name="replacement"/>; its scaled error goes into the block's
    /// errors and onto the block's remaining rows up to <paramref name="blockEnd"/>.
    /// </summary>
    public void Propagate(int i, int blockEnd, ReadOnlySpan<float> replacement)
    {
        int n = _n;
        var row = WeightRow(i);
        var error = Errors.AsSpan((i % _block) * n, n);
        TensorPrimitives.Subtract(row, replacement, error);
        TensorPrimitives.Divide(error, U(i, i), error);
        _scaledErrors += TensorPrimitives.SumOfSquares(error);
        replacement.CopyTo(row);
        for (int j = i + 1; j < blockEnd; j++)
        {
            var target = WeightRow(j);
            TensorPrimitives.MultiplyAdd(error, -U(i, j), target, target);
        }
    }

    /// <summary>w_j ← w_j − Σ_{i ∈ block} U[i, j] · e_i for every row j after the block, rows in parallel.</summary>
    public void LazyUpdate(int b0, int b1)
    {
        int k = _k, n = _n;
        if (b1 >= k) return;
        var weights = _w;
        var u = _u;
        var errors = Errors;
        int block = _block;
        void Update(int j)
        {
            var target = new Span<float>(weights + (long)j * n, n);
            for (int i = b0; i < b1; i++)
                TensorPrimitives.MultiplyAdd(errors.AsSpan((i % block) * n, n), -u[(k - 1 - i) * k + (k - 1 - j)], target, target);
        }
        if ((long)(k - b1) * (b1 - b0) * n < 1 << 16)
            for (int j = b1; j < k; j++) Update(j);
        else Parallel.For(b1, k, Update);
    }

    /// <summary>Puts the working rows back in their original order, in place (by cycles, two rows of scratch).</summary>
    public void Restore(int[] order)
    {
        var done = new bool[_k];
        var carry = new float[_n];
        var displaced = new float[_n];
        // Position i holds original row order[i], which belongs at position order[i].
        for (int start = 0; start < _k; start++)
        {
            if (done[start]) continue;
            done[start] = true;
            if (order[start] == start) continue;
            WeightRow(start).CopyTo(carry);
            for (int target = order[start]; ; target = order[target])
            {
                done[target] = true;
                if (target == start)
                {
                    carry.CopyTo(WeightRow(start));
                    break;
                }
                WeightRow(target).CopyTo(displaced);
                carry.CopyTo(WeightRow(target));
                (carry, displaced) = (displaced, carry);
            }
        }
    }

    public void Dispose()
    {
        ScratchBuffers.Return(Errors);
        _factor.Dispose();
        _u = null;
    }
}
