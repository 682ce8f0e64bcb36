using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// A symmetric float32 matrix of order n (a layer's second moment H, then the GPTQ factor that replaces it) that keeps
/// one triangle only: n(n + 1)/2 entries resident of n² allocated.
/// </summary>
/// <remarks>
/// Storage is an n × n row-major block of native memory, zeroed lazily by the system, of which only one triangle is
/// ever touched, so the pages of the other are never backed (a K = 4608 Conv's H: 43 MB resident instead of the 170
/// MB of a full double matrix). The triangle kept is the lower one of the reversed matrix R = J H J (J the order
/// reversal): entry [i, j], i ≤ j, of H lies at offset (n − 1 − i) · n + (n − 1 − j). In that order the reversed
/// factorization GPTQ needs (H⁻¹ = Uᵀ U, U upper; <see cref="Cholesky"/>) is a plain lower-triangle Cholesky and
/// triangular inverse in place, and U lands where H was. Kernels work on <see cref="Storage"/>; everyone else uses
/// the indexer, in H's own order. The memory is freed by <see cref="Dispose"/> (and, as a last resort, the finalizer).
/// </remarks>
public sealed unsafe class SymmetricMatrix : IDisposable
{
    private float* _data;

    /// <summary>A zero matrix of order <paramref name="order"/> (1 … 16384).</summary>
    public SymmetricMatrix(int order)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(order, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(order, 16384);
        Order = order;
        // calloc: a large block comes straight from the system as untouched zero pages.
        _data = (float*)NativeMemory.AllocZeroed((nuint)order * (nuint)order, sizeof(float));
        GC.AddMemoryPressure(Bytes);
    }

    /// <summary>n.</summary>
    public int Order { get; }

    /// <summary>Bytes of the triangle kept: what the matrix costs in memory (to page granularity).</summary>
    public long Bytes => (long)Order * (Order + 1) / 2 * sizeof(float);

    /// <summary>
    /// The n × n storage: R = J H J's lower triangle, row-major (R[a, b] = H[n − 1 − a, n − 1 − b], b ≤ a). Entries
    /// above R's diagonal must never be read or written: their pages are not backed.
    /// </summary>
    internal Span<float> Storage
    {
        get
        {
            ObjectDisposedException.ThrowIf(_data is null, this);
            return new(_data, Order * Order);
        }
    }

    /// <summary>The storage's address, for kernels that share it across threads.</summary>
    internal float* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_data is null, this);
            return _data;
        }
    }

    /// <summary>Offset in <see cref="Storage"/> of H[i, j] (either order of i and j).</summary>
    internal int Offset(int i, int j)
    {
        if (i > j) (i, j) = (j, i);
        return (Order - 1 - i) * Order + (Order - 1 - j);
    }

    /// <summary>H[i, j] = H[j, i].</summary>
    public float this[int i, int j]
    {
        get
        {
            Check(i, j);
            return Pointer[Offset(i, j)];
        }
        set
        {
            Check(i, j);
            Pointer[Offset(i, j)] = value;
        }
    }

    /// <summary>H as a full [n, n] double matrix, both triangles (for solvers that need them, and tests).</summary>
    public double[] ToDouble()
    {
        int n = Order;
        var full = new double[(long)n * n];
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) full[(long)i * n + j] = full[(long)j * n + i] = Pointer[Offset(i, j)];
        return full;
    }

    /// <summary>A matrix holding the upper triangle of <paramref name="full"/> [n, n] (rounded to float).</summary>
    public static SymmetricMatrix FromDouble(ReadOnlySpan<double> full, int n)
    {
        if (full.Length != (long)n * n) throw new ArgumentException($"matrix must be [{n}, {n}]", nameof(full));
        var m = new SymmetricMatrix(n);
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) m.Pointer[m.Offset(i, j)] = (float)full[i * n + j];
        return m;
    }

    /// <summary>A copy (of the kept triangle only).</summary>
    public SymmetricMatrix Clone()
    {
        var copy = new SymmetricMatrix(Order);
        for (int a = 0; a < Order; a++) KeptRow(a).CopyTo(copy.KeptRow(a));
        return copy;
    }

    /// <summary>Adds <paramref name="other"/> (same order) to this matrix.</summary>
    public void Add(SymmetricMatrix other)
    {
        if (other.Order != Order) throw new ArgumentException($"orders differ: {other.Order} and {Order}", nameof(other));
        for (int a = 0; a < Order; a++)
        {
            var row = KeptRow(a);
            TensorPrimitives.Add(row, other.KeptRow(a), row);
        }
    }

    /// <summary>Row <paramref name="a"/> of R's lower triangle: R[a, 0 … a] = H[n − 1 − a, n − 1 … n − 1 − a].</summary>
    internal Span<float> KeptRow(int a) => Storage.Slice(a * Order, a + 1);

    /// <summary>
    /// A new matrix P with P[a, b] = H[order[a], order[b]] (<paramref name="order"/> a permutation of 0 … n − 1, or a
    /// map into 0 … n − 1 with −1 for a zero row and column, for a larger padded order).
    /// </summary>
    public SymmetricMatrix Permuted(ReadOnlySpan<int> order)
    {
        int n = order.Length;
        var result = new SymmetricMatrix(n);
        var source = Pointer;
        var target = result.Pointer;
        for (int a = 0; a < n; a++)
        {
            int p = order[a];
            if (p < -1 || p >= Order) throw new ArgumentException($"order maps row {a} to {p}, outside 0 … {Order - 1}", nameof(order));
            if (p < 0) continue;
            for (int b = a; b < n; b++)
                if (order[b] >= 0) target[result.Offset(a, b)] = source[Offset(p, order[b])];
        }
        return result;
    }

    private void Check(int i, int j)
    {
        if ((uint)i >= (uint)Order || (uint)j >= (uint)Order) throw new ArgumentOutOfRangeException(i >= Order || i < 0 ? nameof(i) : nameof(j));
    }

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~SymmetricMatrix() => Free();

    private void Free()
    {
        if (_data is null) return;
        NativeMemory.Free(_data);
        _data = null;
        GC.RemoveMemoryPressure(Bytes);
    }
}
