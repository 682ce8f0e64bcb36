using System.Buffers;

namespace CompressTasks.Kernels.Reconstruction;

/// <summary>
/// Scratch buffers for the reconstruction kernels: pooled below <see cref="Threshold"/> elements, in pools of their
/// own that <see cref="Release"/> drops when a layer is done; larger ones (K × K matrices of a wide layer) allocated
/// at their exact size and left to the collector.
/// </summary>
/// <remarks>
/// The shared pool keeps every array returned to it for the life of the process: after ResNet-18's first K = 4608
/// layer it held about 38 MB of 1–4 MB gathers, panels and blocks, a fifth of the peak. It also rounds a request up to
/// a power of two, which for a K × K matrix meant holding several 268 MB arrays.
/// </remarks>
public static class ScratchBuffers
{
    /// <summary>Elements above which a buffer is allocated rather than pooled (the largest pooled length).</summary>
    internal const int Threshold = 1 << 20;

    private static class Pool<T>
    {
        public static ArrayPool<T> Current = Create();

        public static ArrayPool<T> Create() => ArrayPool<T>.Create(Threshold, maxArraysPerBucket: 8);
    }

    internal static T[] Rent<T>(int length) => length > Threshold ? GC.AllocateUninitializedArray<T>(length) : Pool<T>.Current.Rent(length);

    internal static void Return<T>(T[] buffer)
    {
        // Pooled buffers are rounded up to a power of two, so one of exactly Threshold elements came from the pool
        // (an earlier "< Threshold" test dropped ConvPatches' 4 MB gather buffer after every call: 4 MB of garbage
        // per image and layer). A buffer rented before a Release goes to the new pool: same bucket sizes, harmless.
        if (buffer.Length <= Threshold) Pool<T>.Current.Return(buffer);
    }

    /// <summary>
    /// Drops the pooled scratch (to the collector): for a caller done with a layer whose buffers the next layers may
    /// not need. Not to be called while a kernel runs.
    /// </summary>
    public static void Release()
    {
        Pool<float>.Current = Pool<float>.Create();
        Pool<double>.Current = Pool<double>.Create();
    }
}
