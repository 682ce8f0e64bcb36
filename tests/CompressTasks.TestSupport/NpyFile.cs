using System.Runtime.InteropServices;
using System.Text;

namespace CompressTasks.TestSupport;

/// <summary>Writes NumPy v1 <c>.npy</c> files of float32 or int64, for tests that need calibration or evaluation data.</summary>
public static class NpyFile
{
    /// <summary>Writes <paramref name="values"/> with <paramref name="shape"/> (C order) to <paramref name="path"/>.</summary>
    public static void Write(string path, ReadOnlySpan<float> values, params long[] shape) =>
        Write(path, "<f4", MemoryMarshal.AsBytes(values), shape);

    /// <summary>Writes int64 <paramref name="values"/> (token ids, masks) with <paramref name="shape"/> (C order) to <paramref name="path"/>.</summary>
    public static void Write(string path, ReadOnlySpan<long> values, params long[] shape) =>
        Write(path, "<i8", MemoryMarshal.AsBytes(values), shape);

    private static void Write(string path, string descr, ReadOnlySpan<byte> data, long[] shape)
    {
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), }}";
        // magic (6) + version (2) + length (2) + header + '\n' is padded with spaces to a multiple of 64.
        int total = (10 + header.Length + 1 + 63) / 64 * 64;
        header = header.PadRight(total - 10 - 1) + "\n";
        using var stream = File.Create(path);
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)(header.Length & 0xFF), (byte)(header.Length >> 8)]);
        stream.Write(Encoding.ASCII.GetBytes(header));
        stream.Write(data);
    }
}
