using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// The matrix product under the blocked Cholesky factorization and triangular inverse:
/// <code>
///   C[r, x] −= Σ_{d &lt; depth} A[r, d] · B[d, x]     r &lt; rows, x &lt; cols; row strides ldc, lda, ldb
/// </code>
/// Tiles of 4 rows × <see cref="Width"/> columns keep 8 vector accumulators in registers: per step of d, two loads
/// of B and four broadcasts of A feed eight fused multiply-adds. Rows and columns past the last whole tile take a
/// scalar loop, which is also the path without 256-bit vectors. Each entry is summed in order of d.
/// </summary>
internal static class BlockedProduct
{
    /// <summary>Columns per tile.</summary>
    public const int Width = 8;

    public static void MultiplySubtract(Span<double> c, int ldc, ReadOnlySpan<double> a, int lda, ReadOnlySpan<double> b, int ldb, int rows, int cols, int depth)
    {
        if (rows <= 0 || cols <= 0 || depth <= 0) return;
        if (c.Length < (long)(rows - 1) * ldc + cols || a.Length < (long)(rows - 1) * lda + depth || b.Length < (long)(depth - 1) * ldb + cols)
            throw new ArgumentException("matrix spans are shorter than their shapes");
        ref double cr = ref MemoryMarshal.GetReference(c);
        ref double ar = ref MemoryMarshal.GetReference(a);
        ref double br = ref MemoryMarshal.GetReference(b);
        int vectorCols = Vector256.IsHardwareAccelerated ? cols / Width * Width : 0;
        int r = 0;
        if (vectorCols > 0)
        {
            for (; r + 4 <= rows; r += 4)
                for (int x = 0; x < vectorCols; x += Width) Tile4(ref cr, ldc, ref ar, lda, ref br, ldb, r, x, depth);
            for (; r < rows; r++)
                for (int x = 0; x < vectorCols; x += Width) Tile1(ref cr, ldc, ref ar, lda, ref br, ldb, r, x, depth);
        }
        for (int i = 0; i < rows; i++)
            for (int x = i < r ? vectorCols : 0; x < cols; x++)
            {
                double sum = 0;
                for (int d = 0; d < depth; d++) sum += a[i * lda + d] * b[d * ldb + x];
                c[i * ldc + x] -= sum;
            }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile4(ref double c, int ldc, ref double a, int lda, ref double b, int ldb, int r, int x, int depth)
    {
        Vector256<double> s00 = default, s01 = default, s10 = default, s11 = default;
        Vector256<double> s20 = default, s21 = default, s30 = default, s31 = default;
        nuint a0 = (nuint)(r * lda), a1 = a0 + (nuint)lda, a2 = a1 + (nuint)lda, a3 = a2 + (nuint)lda;
        nuint bo = (nuint)x;
        for (int d = 0; d < depth; d++, bo += (nuint)ldb)
        {
            var b0 = Vector256.LoadUnsafe(ref b, bo);
            var b1 = Vector256.LoadUnsafe(ref b, bo + 4);
            var v = Vector256.Create(Unsafe.Add(ref a, a0 + (nuint)d));
            s00 = Vector256.FusedMultiplyAdd(v, b0, s00);
            s01 = Vector256.FusedMultiplyAdd(v, b1, s01);
            v = Vector256.Create(Unsafe.Add(ref a, a1 + (nuint)d));
            s10 = Vector256.FusedMultiplyAdd(v, b0, s10);
            s11 = Vector256.FusedMultiplyAdd(v, b1, s11);
            v = Vector256.Create(Unsafe.Add(ref a, a2 + (nuint)d));
            s20 = Vector256.FusedMultiplyAdd(v, b0, s20);
            s21 = Vector256.FusedMultiplyAdd(v, b1, s21);
            v = Vector256.Create(Unsafe.Add(ref a, a3 + (nuint)d));
            s30 = Vector256.FusedMultiplyAdd(v, b0, s30);
            s31 = Vector256.FusedMultiplyAdd(v, b1, s31);
        }
        nuint co = (nuint)(r * ldc + x);
        Store(ref c, co, s00, s01);
        Store(ref c, co + (nuint)ldc, s10, s11);
        Store(ref c, co + 2 * (nuint)ldc, s20, s21);
        Store(ref c, co + 3 * (nuint)ldc, s30, s31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Tile1(ref double c, int ldc, ref double a, int lda, ref double b, int ldb, int r, int x, int depth)
    {
        Vector256<double> s0 = default, s1 = default;
        nuint a0 = (nuint)(r * lda), bo = (nuint)x;
        for (int d = 0; d < depth; d++, bo += (nuint)ldb)
        {
            var v = Vector256.Create(Unsafe.Add(ref a, a0 + (nuint)d));
            s0 = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b, bo), s0);
            s1 = Vector256.FusedMultiplyAdd(v, Vector256.LoadUnsafe(ref b, bo + 4), s1);
        }
        Store(ref c, (nuint)(r * ldc + x), s0, s1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(ref double c, nuint offset, Vector256<double> s0, Vector256<double> s1)
    {
        (Vector256.LoadUnsafe(ref c, offset) - s0).StoreUnsafe(ref c, offset);
        (Vector256.LoadUnsafe(ref c, offset + 4) - s1).StoreUnsafe(ref c, offset + 4);
    }
}

/// <summary>A pinned span that a lambda can carry (spans cannot be captured); valid while its memory stays pinned.</summary>
internal readonly unsafe struct PinnedSpan<T>(T* pointer, int length) where T : unmanaged
{
    public Span<T> Span => new(pointer, length);
}
