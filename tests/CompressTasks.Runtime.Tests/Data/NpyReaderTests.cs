using System.Text;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;

namespace CompressTasks.Runtime.Tests.Data;

[TestClass]
public sealed class NpyReaderTests
{
    // A .npy file as numpy.save writes it: magic, version, header length, a dict padded with spaces to a multiple of 64, '\n'.
    private static byte[] Npy(string dict, byte[] data, int major = 1)
    {
        int prefix = major == 1 ? 10 : 12;
        var header = dict;
        while ((prefix + header.Length + 1) % 64 != 0) header += ' ';
        header += '\n';
        var bytes = new List<byte> { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 };
        if (major == 1) bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        else bytes.AddRange(BitConverter.GetBytes((uint)header.Length));
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        bytes.AddRange(data);
        return [.. bytes];
    }

    private static NpyArray Read(byte[] bytes) => NpyReader.Read(new MemoryStream(bytes));

    [TestMethod]
    [DataRow(1)]
    [DataRow(2)]
    [DataRow(3)]
    public void WhenFileIsFloat32_ThenShapeAndValuesAreRead(int major)
    {
        float[] values = [0f, 0.5f, -1f, 2f, 3.25f, 1e-3f];
        var array = Read(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", values.SelectMany(BitConverter.GetBytes).ToArray(), major));
        Assert.AreEqual("<f4", array.Descr);
        CollectionAssert.AreEqual(new long[] { 2, 3 }, array.Shape);
        CollectionAssert.AreEqual(values, array.As<float>());
    }

    [TestMethod]
    public void WhenShapeIsScalarOr1D_ThenItIsRead()
    {
        Assert.IsEmpty(Read(Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", BitConverter.GetBytes(7L))).Shape);
        var labels = Read(Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", new long[] { 1, -2, 9 }.SelectMany(BitConverter.GetBytes).ToArray()));
        CollectionAssert.AreEqual(new long[] { 1, -2, 9 }, labels.As<long>());
        CollectionAssert.AreEqual(new bool[] { true, false }, Read(Npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", [1, 0])).As<bool>());
    }

    [TestMethod]
    [DataRow("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", 4, DisplayName = "big-endian")]
    [DataRow("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", 4, DisplayName = "Fortran order")]
    [DataRow("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", 12, DisplayName = "unicode strings")]
    [DataRow("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 8, DisplayName = "data shorter than the shape")]
    [DataRow("{'fortran_order': False, 'shape': (1,), }", 4, DisplayName = "no descr")]
    public void WhenFileIsUnsupportedOrBroken_ThenInvalidDataException(string dict, int dataBytes)
    {
        Assert.ThrowsExactly<InvalidDataException>(() => Read(Npy(dict, new byte[dataBytes])));
    }

    [TestMethod]
    public void WhenMagicIsWrong_ThenInvalidDataException()
    {
        var bytes = Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", new byte[4]);
        bytes[0] = (byte)'x';
        Assert.ThrowsExactly<InvalidDataException>(() => Read(bytes));
    }

    [TestMethod]
    public void WhenMnistDataIsRead_ThenItMatchesTheManifest()
    {
        var dir = Path.Combine(TestPaths.SharedModels, "mnist-mlp", "data");
        var images = NpyReader.Read(Path.Combine(dir, "test_images.npy"));
        var calib = NpyReader.Read(Path.Combine(dir, "calib_images.npy"));
        var labels = NpyReader.Read(Path.Combine(dir, "test_labels.npy")).As<long>();
        CollectionAssert.AreEqual(new long[] { 1000, 784 }, images.Shape);
        CollectionAssert.AreEqual(new long[] { 200, 784 }, calib.Shape);
        Assert.HasCount(1000, labels);
        Assert.IsTrue(images.As<float>().All(v => v is >= 0 and <= 1), "pixels should be in 0..1");
        Assert.IsTrue(labels.All(l => l is >= 0 and <= 9));
        Assert.AreEqual(10, labels.Distinct().Count());
    }
}
