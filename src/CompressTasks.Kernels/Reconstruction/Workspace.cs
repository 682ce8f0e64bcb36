using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// The state GPTQ and SparseGPT share: the (possibly permuted) working copy of the weight, the upper Cholesky
/// factor U of the damped inverse second moment, and the block of scaled errors waiting for the lazy update.
/// </summary>
/// <remarks>
/// U is the one K × K matrix here (170 MB at K = 4608). It shares its matrix with H: U fills the upper triangle and
/// the diagonal, and H (in processing order) keeps the strict lower triangle, with its diagonal saved aside, so the
/// output error of the result can be taken from the same matrix (<see cref="Error"/>). The matrix is either the
/// caller's H itself, consumed (<see cref="Consuming"/>: no second K × K matrix at all), or a copy in native memory
/// freed on <see cref="Dispose"/> (as a managed array it stayed on the large-object heap as garbage until the next
/// gen-2 collection, one per layer).
/// </remarks>
internal sealed unsafe class Workspace : IDisposable
{
    private readonly int _k, _n, _block;
    private double* _factor;
    private GCHandle _pinned;
    private readonly double[] _diagonal;

    public Workspace(int k, int n, int block)
        : this(k, n, block, null)
    {
    }

    private Workspace(int k, int n, int block, double[]? hessian)
    {
        _k = k;
        _n = n;
        _block = block;
        Weights = LargeBuffers.Rent<float>(k * n);
        if (hessian is null) _factor = (double*)NativeMemory.Alloc((nuint)k * (nuint)k, sizeof(double));
        else
        {
            _pinned = GCHandle.Alloc(hessian, GCHandleType.Pinned);
            _factor = (double*)_pinned.AddrOfPinnedObject();
        }
        _diagonal = new double[k];
        Errors = LargeBuffers.Rent<float>(block * n);
        Row = new float[n];
    }

    /// <summary>A workspace whose U overwrites <paramref name="hessian"/> ([K, K]) instead of a copy of it.</summary>
    public static Workspace Consuming(int k, int n, int block, double[] hessian)
    {
        if (hessian.Length != k * k) throw new ArgumentException($"H must be [{k}, {k}]", nameof(hessian));
        return new Workspace(k, n, block, hessian);
    }

    /// <summary>True when U overwrites the caller's H.</summary>
    public bool ConsumesHessian => _pinned.IsAllocated;

    /// <summary>Working weights [K, N], rows in processing order.</summary>
    public float[] Weights { get; }

    /// <summary>U [K, K], upper: H⁻¹ = Uᵀ U in processing order.</summary>
    public Span<double> Factor => new(_factor, _k * _k);

    /// <summary>Scaled errors (w − q) / U[i, i] of the current block's rows.</summary>
    public float[] Errors { get; }

    /// <summary>One row of scratch.</summary>
    public float[] Row { get; }

    /// <summary>
    /// Copies the weights (rows permuted by decreasing H[k, k] when <paramref name="actOrder"/>), decouples dead inputs,
    /// damps H and turns it into U. Fills <paramref name="order"/> (processing position → original row). Returns the
    /// number of dead inputs (rows kept).
    /// </summary>
    public int Prepare(ReadOnlySpan<float> weights, ReadOnlySpan<double> hessian, bool actOrder, double damp, int[] order, out double dampUsed)
    {
        int k = _k, n = _n, dead = 0;
        for (int i = 0; i < k; i++) order[i] = i;
        if (actOrder)
        {
            // Decreasing diagonal, ties by index: a total order, so the permutation is deterministic.
            var keys = new double[k];
            for (int i = 0; i < k; i++) keys[i] = hessian[i * k + i];
            Array.Sort(order, (a, b) => keys[b] != keys[a] ? keys[b].CompareTo(keys[a]) : a.CompareTo(b));
        }
        var h = Factor;
        if (ConsumesHessian)
        {
            if (actOrder) SymmetricPermutation.Apply(h, k, order);
            for (int i = 0; i < k; i++) weights.Slice(order[i] * n, n).CopyTo(Weights.AsSpan(i * n, n));
        }
        else
        {
            for (int i = 0; i < k; i++)
            {
                int oi = order[i];
                weights.Slice(oi * n, n).CopyTo(Weights.AsSpan(i * n, n));
                for (int j = 0; j < k; j++) h[i * k + j] = hessian[oi * k + order[j]];
            }
        }
        for (int i = 0; i < k; i++) _diagonal[i] = h[i * k + i];
        // An input never seen non-zero gets H[i, i] = 1, which decouples it: its row is rounded on its own, with no
        // error pushed to or from it. The row is kept, not zeroed as in the paper: the input may fire on other data.
        for (int i = 0; i < k; i++)
        {
            if (h[i * k + i] != 0) continue;
            h[i * k + i] = 1;
            dead++;
        }
        dampUsed = Cholesky.InverseUpperFactor(h, k, damp, keepLower: true);
        return dead;
    }

    /// <summary>
    /// tr(Δᵀ H Δ) of the rows as they are now against <paramref name="original"/> (original order), on H as given
    /// (undamped, dead inputs included): the output error on the calibration data, from the strict lower triangle
    /// and the saved diagonal that <see cref="Prepare"/> left.
    /// </summary>
    public double Error(ReadOnlySpan<float> original, int[] order)
    {
        int k = _k, n = _n;
        var delta = LargeBuffers.Rent<double>(k * n);
        var row = new double[n];
        try
        {
            var d = delta.AsSpan(0, k * n);
            for (int i = 0; i < k; i++)
            {
                // In double: a float difference would round where the weights are far apart.
                var target = d.Slice(i * n, n);
                TensorPrimitives.ConvertTruncating<float, double>(original.Slice(order[i] * n, n), target);
                TensorPrimitives.ConvertTruncating<float, double>(Weights.AsSpan(i * n, n), row);
                TensorPrimitives.Subtract<double>(target, row, target);
            }
            return LayerError.QuadraticFromLower(Factor, _diagonal, d, k, n);
        }
        finally
        {
            LargeBuffers.Return(delta);
        }
    }

    /// <summary>
    /// Row <paramref name="i"/> becomes <paramref name="replacement"/>; its scaled error goes into the block's
    /// errors and onto the block's remaining rows up to <paramref name="blockEnd"/>.
    /// </summary>
    public void Propagate(int i, int blockEnd, ReadOnlySpan<float> replacement)
    {
        int k = _k, n = _n;
        var row = Weights.AsSpan(i * n, n);
        var error = Errors.AsSpan((i % _block) * n, n);
        TensorPrimitives.Subtract(row, replacement, error);
        var u = Factor.Slice(i * k, k);
        TensorPrimitives.Divide(error, (float)u[i], error);
        replacement.CopyTo(row);
        for (int j = i + 1; j < blockEnd; j++)
        {
            var target = Weights.AsSpan(j * n, n);
            TensorPrimitives.MultiplyAdd(error, (float)-u[j], target, target);
        }
    }

    /// <summary>w_j ← w_j − Σ_{i ∈ block} U[i, j] · e_i for every row j after the block, rows in parallel.</summary>
    public void LazyUpdate(int b0, int b1)
    {
        int k = _k, n = _n;
        if (b1 >= k) return;
        var weights = Weights;
        var factor = _factor;
        var errors = Errors;
        int block = _block;
        void Update(int j)
        {
            var target = weights.AsSpan(j * n, n);
            for (int i = b0; i < b1; i++)
                TensorPrimitives.MultiplyAdd(errors.AsSpan((i % block) * n, n), (float)-factor[i * k + j], target, target);
        }
        if ((long)(k - b1) * (b1 - b0) * n < 1 << 16)
            for (int j = b1; j < k; j++) Update(j);
        else Parallel.For(b1, k, Update);
    }

    /// <summary>Writes the working rows back in their original order.</summary>
    public void Restore(Span<float> weights, int[] order)
    {
        for (int i = 0; i < _k; i++) Weights.AsSpan(i * _n, _n).CopyTo(weights.Slice(order[i] * _n, _n));
    }

    public void Dispose()
    {
        LargeBuffers.Return(Weights);
        if (_pinned.IsAllocated) _pinned.Free();
        else NativeMemory.Free(_factor);
        _factor = null;
        LargeBuffers.Return(Errors);
    }
}
