using System.Buffers;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Scratch buffers for the reconstruction kernels: small ones from <see cref="ArrayPool{T}.Shared"/>, large ones
/// (K × K matrices of a wide layer) allocated at their exact size and left to the collector. The shared pool rounds
/// a request up to a power of two and keeps what is returned, which for ResNet-18's K = 4608 meant holding several
/// 268 MB arrays for the rest of the run.
/// </summary>
internal static class LargeBuffers
{
    /// <summary>Elements from which a buffer is allocated rather than pooled.</summary>
    public const int Threshold = 1 << 20;

    public static T[] Rent<T>(int length) => length >= Threshold ? GC.AllocateUninitializedArray<T>(length) : ArrayPool<T>.Shared.Rent(length);

    public static void Return<T>(T[] buffer)
    {
        if (buffer.Length < Threshold) ArrayPool<T>.Shared.Return(buffer);
    }
}
