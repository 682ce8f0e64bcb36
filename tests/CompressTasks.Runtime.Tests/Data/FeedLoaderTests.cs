using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime.Data;
using Google.Protobuf;

namespace CompressTasks.Runtime.Tests.Data;

[TestClass]
public sealed class FeedLoaderTests
{
    private static readonly float[] Rows = Enumerable.Range(0, 6 * 4).Select(i => i * 0.5f).ToArray();
    private static readonly TensorInfo Input = new("x", 1, [-1, 4], ["batch", ""]);

    // A NumPy v1 .npy: magic, version, header length, a dict header padded with spaces to 64 bytes, then the data.
    private static byte[] Npy(float[] values, params long[] shape)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({string.Join(", ", shape)}{(shape.Length == 1 ? "," : "")}), }}";
        header = header.PadRight(64 - 10 - 1) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange("NUMPY"u8.ToArray());
        bytes.AddRange([1, 0, (byte)header.Length, 0]);
        bytes.AddRange(Encoding.ASCII.GetBytes(header));
        bytes.AddRange(MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        return bytes.ToArray();
    }

    private static string Temp(string extension) => Path.Combine(Path.GetTempPath(), $"ct-feeds-{Guid.NewGuid():N}{extension}");

    [TestMethod]
    [DataRow(".npy")]
    [DataRow(".npz")]
    [DataRow(".pb")]
    public void WhenDataIsInAnySupportedFormat_FeedsAreTheSameRowsInBatches(string extension)
    {
        var path = Temp(extension);
        try
        {
            switch (extension)
            {
                case ".npy":
                    File.WriteAllBytes(path, Npy(Rows, 6, 4));
                    break;
                case ".npz":
                    using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
                    using (var entry = zip.CreateEntry("x.npy").Open())
                        entry.Write(Npy(Rows, 6, 4));
                    break;
                default:
                    var tensor = new TensorProto { DataType = 1, Dims = { 6, 4 }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(Rows.AsSpan())) };
                    File.WriteAllBytes(path, tensor.ToByteArray());
                    break;
            }
            var feeds = FeedLoader.Load(path, [Input], maxRows: 100, batchSize: 2);
            Assert.AreEqual(3, feeds.Count);
            for (int b = 0; b < 3; b++)
            {
                var x = feeds[b]["x"];
                CollectionAssert.AreEqual(new long[] { 2, 4 }, x.Shape);
                CollectionAssert.AreEqual(Rows.Skip(b * 8).Take(8).ToArray(), x.As<float>().ToArray());
            }
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void WhenFileIsNotData_ItIsAVerificationInputsError()
    {
        var path = Temp(".pb");
        File.WriteAllBytes(path, [0xFF, 0xFF, 0xFF]);
        try
        {
            var e = Assert.ThrowsExactly<CompressTasksException>(() => FeedLoader.Load(path, [Input], maxRows: 10));
            Assert.AreEqual(DiagnosticCodes.VerificationInputs, e.Code);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
