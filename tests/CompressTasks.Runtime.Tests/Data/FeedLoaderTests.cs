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

    // Two inputs: x [batch, 4] float32 and ids [batch, 3] int64, as a transformer's input_ids beside another tensor.
    private static readonly TensorInfo[] TwoInputs = [new("x", 1, [-1, 4], ["batch", ""]), new("ids", 7, [-1, 3], ["batch", ""])];
    private static readonly long[] Ids = Enumerable.Range(0, 6 * 3).Select(i => (long)i * 7).ToArray();

    private static byte[] Pb(string name, int dataType, ReadOnlySpan<byte> bytes, params long[] dims) =>
        new TensorProto { Name = name, DataType = dataType, Dims = { dims }, RawData = ByteString.CopyFrom(bytes) }.ToByteArray();

    // .npy of int64 (the float helper with the descriptor swapped: both are 8-byte-aligned headers of the same length).
    private static byte[] NpyInt64(long[] values, params long[] shape)
    {
        var bytes = Npy(new float[values.Length * 2], shape);
        var text = Encoding.ASCII.GetString(bytes, 10, bytes.Length - 10 - values.Length * 8).Replace("'<f4'", "'<i8'", StringComparison.Ordinal);
        return [.. bytes.AsSpan(0, 10), .. Encoding.ASCII.GetBytes(text), .. MemoryMarshal.AsBytes(values.AsSpan())];
    }

    private static void AssertTwoInputBatches(IReadOnlyList<IReadOnlyDictionary<string, TensorValue>> feeds, int batch)
    {
        Assert.HasCount(6 / batch, feeds);
        for (int b = 0; b < feeds.Count; b++)
        {
            CollectionAssert.AreEqual(new long[] { batch, 4 }, feeds[b]["x"].Shape);
            CollectionAssert.AreEqual(Rows.AsSpan(b * batch * 4, batch * 4).ToArray(), feeds[b]["x"].As<float>().ToArray());
            Assert.AreEqual(7, feeds[b]["ids"].ElementType);
            CollectionAssert.AreEqual(Ids.AsSpan(b * batch * 3, batch * 3).ToArray(), feeds[b]["ids"].As<long>().ToArray(), "row r of every input is sample r");
        }
    }

    [TestMethod]
    public void WhenAModelHasSeveralInputs_AnNpzWithArraysNamedAfterThemFeedsEachInputItsRows()
    {
        var path = Temp(".npz");
        try
        {
            using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
            {
                using (var entry = zip.CreateEntry("ids.npy").Open()) entry.Write(NpyInt64(Ids, 6, 3));
                using (var entry = zip.CreateEntry("x.npy").Open()) entry.Write(Npy(Rows, 6, 4));
            }
            AssertTwoInputBatches(FeedLoader.Load(path, TwoInputs, maxRows: 100, batchSize: 2), 2);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void WhenEachInputHasItsOwnFile_ThePerInputSourceFeedsThemTogether()
    {
        var (x, ids) = (Temp(".npy"), Temp(".pb"));
        try
        {
            File.WriteAllBytes(x, Npy(Rows, 6, 4));
            File.WriteAllBytes(ids, Pb("", 7, MemoryMarshal.AsBytes(Ids.AsSpan()), 6, 3));
            var source = DataSource.PerInput([new("ids", ids), new("x", x)]);
            AssertTwoInputBatches(FeedLoader.Load(source, TwoInputs, maxRows: 100, batchSize: 3), 3);
        }
        finally
        {
            File.Delete(x);
            File.Delete(ids);
        }
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenDataAreInTheOnnxTestDataLayout_EachSampleFolderIsOneFeed_MatchedByNameOrPosition(bool named)
    {
        var root = Temp("");
        try
        {
            for (int sample = 0; sample < 3; sample++)
            {
                var folder = Directory.CreateDirectory(Path.Combine(root, $"test_data_set_{sample}")).FullName;
                // Written in the other order when named, so only the names can match them up.
                File.WriteAllBytes(Path.Combine(folder, named ? "input_1.pb" : "input_0.pb"),
                    Pb(named ? "x" : "", 1, MemoryMarshal.AsBytes(Rows.AsSpan(sample * 8, 8)), 2, 4));
                File.WriteAllBytes(Path.Combine(folder, named ? "input_0.pb" : "input_1.pb"),
                    Pb(named ? "ids" : "", 7, MemoryMarshal.AsBytes(Ids.AsSpan(sample * 6, 6)), 2, 3));
            }
            AssertTwoInputBatches(FeedLoader.Load(root, TwoInputs, maxRows: 100), 2);
            Assert.HasCount(2, FeedLoader.Load(root, TwoInputs, maxRows: 4), "maxRows counts the samples' rows");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [TestMethod]
    public void WhenAnInputHasNoData_CT3010NamesIt_AndDataForAnUnknownInputIsCT3011()
    {
        var (x, npz) = (Temp(".npy"), Temp(".npz"));
        try
        {
            File.WriteAllBytes(x, Npy(Rows, 6, 4));
            using (var zip = ZipFile.Open(npz, ZipArchiveMode.Create))
            using (var entry = zip.CreateEntry("x.npy").Open())
                entry.Write(Npy(Rows, 6, 4));
            foreach (var source in new[] { DataSource.PerInput([new("x", x)]), DataSource.FromPath(npz) })
            {
                var missing = Assert.ThrowsExactly<CompressTasksException>(() => FeedLoader.Load(source, TwoInputs, maxRows: 100));
                Assert.AreEqual(DiagnosticCodes.DataInputMissing, missing.Code);
                StringAssert.Contains(missing.Message, "nothing for input 'ids'");
            }
            var unknown = Assert.ThrowsExactly<CompressTasksException>(() =>
                FeedLoader.Load(DataSource.PerInput([new("x", x), new("input_ids", x)]), TwoInputs, maxRows: 100));
            Assert.AreEqual(DiagnosticCodes.DataInputUnknown, unknown.Code);
            StringAssert.Contains(unknown.Message, "'input_ids', which the model does not have (its inputs: x, ids)");
            var single = Assert.ThrowsExactly<CompressTasksException>(() => FeedLoader.Load(x, TwoInputs, maxRows: 100));
            Assert.AreEqual(DiagnosticCodes.VerificationInputs, single.Code);
            StringAssert.Contains(single.Message, "an .npz whose arrays are named after them");
        }
        finally
        {
            File.Delete(x);
            File.Delete(npz);
        }
    }

    [TestMethod]
    [DataRow("test_add")]
    [DataRow("test_matmul_2d")]
    [DataRow("test_where_example")]
    public void WhenAnOnnxBackendTestFolderIsTheData_ItsInputsFeedTheModelAndGiveItsRecordedOutput(string name)
    {
        // The backend suite's own layout: model.onnx beside test_data_set_*/input_N.pb and output_N.pb.
        var folder = TestSupport.TestPaths.BackendCases("node").Single(d => Path.GetFileName(d) == name);
        using var session = ModelSession.Open(Path.Combine(folder, "model.onnx"));
        var feeds = FeedLoader.Load(folder, session.Inputs, maxRows: 1000);

        var samples = Directory.GetDirectories(folder, "test_data_set_*");
        Assert.HasCount(samples.Length, feeds);
        Assert.IsTrue(session.Inputs.Count >= 2, "a multi-input model");
        var outputs = session.Run(feeds[0]);
        var expected = TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(samples.Order(StringComparer.Ordinal).First(), "output_0.pb")));
        CollectionAssert.AreEqual(expected.Dims.ToArray(), outputs[0].Shape);
        var want = MemoryMarshal.Cast<byte, float>(expected.RawData.Span).ToArray();
        var got = outputs[0].As<float>().ToArray();
        for (int i = 0; i < want.Length; i++)
            Assert.AreEqual(want[i], got[i], 1e-5 * Math.Max(1, Math.Abs(want[i])), $"output[{i}]: the recorded value (float32 rounding apart)");
    }
}
