using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// The matrix product under the blocked Cholesky factorization and triangular inverse, in double or float:
/// <code>
///   C[r, x] −= Σ_{d &lt; depth} A[r, d] · B[d, x]     r &lt; rows, x &lt; cols; row strides ldc, lda, ldb
/// </code>
/// Tiles of 4 rows × two vectors of columns (<see cref="Width"/> doubles, <see cref="TileWidth{T}"/> in general) keep
/// 8 vector accumulators in registers: per step of d, two loads of B and four broadcasts of A feed eight fused
/// multiply-adds. Rows and columns past the last whole tile take a scalar loop, which is also the path without 256-bit
/// vectors. Each entry is summed in order of d, in T. The code is generic so that the JIT compiles one specialized
/// copy per element type, with the type tests folded away.
/// </summary>
internal static class BlockedProduct
{
    /// <summary>Columns per tile of doubles.</summary>
    public const int Width = 8;

    /// <summary>Columns per tile of <typeparamref name="T"/>: two 256-bit vectors (8 doubles, 16 floats).</summary>
    public static int TileWidth<T>() => 2 * Vector256<T>.Count;

    public static void MultiplySubtract<T>(Span<T> c, int ldc, ReadOnlySpan<T> a, int lda, ReadOnlySpan<T> b, int ldb, int rows, int cols, int depth)
        where T : unmanaged, INumberBase<T>
    {
        if (rows <= 0 || cols <= 0 || depth <= 0) return;
        if (c.Length < (long)(rows - 1) * ldc + cols || a.Length < (long)(rows - 1) * lda + depth || b.Length < (long)(depth - 1) * ldb + cols)
            throw new ArgumentException("matrix spans are shorter than their shapes");
        ref T cr = ref MemoryMarshal.GetReference(c);
        ref T ar = ref MemoryMarshal.GetReference(a);
        ref T br = ref MemoryMarshal.GetReference(b);
        int width = TileWidth<T>();
        int vectorCols = Vector256.IsHardwareAccelerated ? cols / width * width : 0;
        int r = 0;
        if (vectorCols > 0)
        {
            for (; r + 4 <= rows; r += 4)
                for (int x = 0; x < vectorCols; x += width) Tile4(ref cr, ldc, ref ar, lda, ref br, ldb, r, x, depth);
            for (; r < rows; r++)
                for (int x = 0; x < vectorCols; x += width) Tile1(ref cr, ldc, ref ar, lda, ref br, ldb, r, x, depth);
        }
        for (int i = 0; i < rows; i++)
            for (int x = i < r ? vectorCols : 0; x < cols; x++)
            {
                T sum = T.Zero;
                for (int d = 0; d < depth; d++) sum += a[i * lda + d] * b[d * ldb + x];
                c[i * ldc + x] -= sum;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile4<T>(ref T c, int ldc, ref T a, int lda, ref T b, int ldb, int r, int x, int depth)
        where T : unmanaged, INumberBase<T>
    {
        Vector256<T> s00 = default, s01 = default, s10 = default, s11 = default;
        Vector256<T> s20 = default, s21 = default, s30 = default, s31 = default;
        nuint a0 = (nuint)(r * lda), a1 = a0 + (nuint)lda, a2 = a1 + (nuint)lda, a3 = a2 + (nuint)lda;
        nuint bo = (nuint)x, half = (nuint)Vector256<T>.Count;
        for (int d = 0; d < depth; d++, bo += (nuint)ldb)
        {
            var b0 = Vector256.LoadUnsafe(ref b, bo);
            var b1 = Vector256.LoadUnsafe(ref b, bo + half);
            var v = Vector256.Create(Unsafe.Add(ref a, a0 + (nuint)d));
            s00 = MultiplyAdd(v, b0, s00);
            s01 = MultiplyAdd(v, b1, s01);
            v = Vector256.Create(Unsafe.Add(ref a, a1 + (nuint)d));
            s10 = MultiplyAdd(v, b0, s10);
            s11 = MultiplyAdd(v, b1, s11);
            v = Vector256.Create(Unsafe.Add(ref a, a2 + (nuint)d));
            s20 = MultiplyAdd(v, b0, s20);
            s21 = MultiplyAdd(v, b1, s21);
            v = Vector256.Create(Unsafe.Add(ref a, a3 + (nuint)d));
            s30 = MultiplyAdd(v, b0, s30);
            s31 = MultiplyAdd(v, b1, s31);
        }
        nuint co = (nuint)(r * ldc + x);
        Store(ref c, co, s00, s01);
        Store(ref c, co + (nuint)ldc, s10, s11);
        Store(ref c, co + 2 * (nuint)ldc, s20, s21);
        Store(ref c, co + 3 * (nuint)ldc, s30, s31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile1<T>(ref T c, int ldc, ref T a, int lda, ref T b, int ldb, int r, int x, int depth)
        where T : unmanaged, INumberBase<T>
    {
        Vector256<T> s0 = default, s1 = default;
        nuint a0 = (nuint)(r * lda), bo = (nuint)x, half = (nuint)Vector256<T>.Count;
        for (int d = 0; d < depth; d++, bo += (nuint)ldb)
        {
            var v = Vector256.Create(Unsafe.Add(ref a, a0 + (nuint)d));
            s0 = MultiplyAdd(v, Vector256.LoadUnsafe(ref b, bo), s0);
            s1 = MultiplyAdd(v, Vector256.LoadUnsafe(ref b, bo + half), s1);
        }
        Store(ref c, (nuint)(r * ldc + x), s0, s1);
    }

    // Fused x · y + z; Vector256.FusedMultiplyAdd has no generic overload, and the JIT drops the tests that fail for T.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> MultiplyAdd<T>(Vector256<T> x, Vector256<T> y, Vector256<T> z)
    {
        if (typeof(T) == typeof(double)) return Vector256.FusedMultiplyAdd(x.AsDouble(), y.AsDouble(), z.AsDouble()).As<double, T>();
        if (typeof(T) == typeof(float)) return Vector256.FusedMultiplyAdd(x.AsSingle(), y.AsSingle(), z.AsSingle()).As<float, T>();
        throw new NotSupportedException($"no fused multiply-add for {typeof(T)}");
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<T>(ref T c, nuint offset, Vector256<T> s0, Vector256<T> s1)
    {
        nuint half = (nuint)Vector256<T>.Count;
        (Vector256.LoadUnsafe(ref c, offset) - s0).StoreUnsafe(ref c, offset);
        (Vector256.LoadUnsafe(ref c, offset + half) - s1).StoreUnsafe(ref c, offset + half);
    }
}

/// <summary>A pinned span that a lambda can carry (spans cannot be captured); valid while its memory stays pinned.</summary>
internal readonly unsafe struct PinnedSpan<T>(T* pointer, int length) where T : unmanaged
{
    public Span<T> Span => new(pointer, length);
}
