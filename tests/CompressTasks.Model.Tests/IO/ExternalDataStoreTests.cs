using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using CompressTasks.Diagnostics;
using Google.Protobuf;

namespace CompressTasks.Model.Tests.IO;

/// <summary>
/// External data: references that are wrong are caught at load with their documented code; payloads are ranges of the
/// memory-mapped file, at any offset, and stay readable after the model is disposed.
/// </summary>
[TestClass]
public sealed class ExternalDataStoreTests
{
    [TestMethod]
    [DataRow("missing.bin", "0", "64", DiagnosticCodes.ExternalDataMissing, DisplayName = "missing file")]
    [DataRow("w.bin", "64", "64", DiagnosticCodes.ExternalDataOutOfRange, DisplayName = "offset + length beyond the end")]
    [DataRow("w.bin", "1000", null, DiagnosticCodes.ExternalDataOutOfRange, DisplayName = "offset beyond the end")]
    [DataRow("w.bin", "0", "1000", DiagnosticCodes.ExternalDataOutOfRange, DisplayName = "length beyond the end")]
    [DataRow("w.bin", "abc", "64", DiagnosticCodes.ExternalDataOutOfRange, DisplayName = "non-numeric offset")]
    [DataRow("w.bin", "-1", "64", DiagnosticCodes.ExternalDataOutOfRange, DisplayName = "negative offset")]
    [DataRow("w.bin", "0", "1e3", DiagnosticCodes.ExternalDataOutOfRange, DisplayName = "non-numeric length")]
    [DataRow("w.bin", "99999999999999999999", "64", DiagnosticCodes.ExternalDataOutOfRange, DisplayName = "offset overflows int64")]
    [DataRow("/etc/passwd", "0", "64", DiagnosticCodes.ExternalDataMissing, DisplayName = "absolute location")]
    [DataRow("../w.bin", "0", "64", DiagnosticCodes.ExternalDataMissing, DisplayName = "location with ..")]
    [DataRow("sub/../../w.bin", "0", "64", DiagnosticCodes.ExternalDataMissing, DisplayName = "location with .. inside")]
    [DataRow("", "0", "64", DiagnosticCodes.ExternalDataMissing, DisplayName = "empty location")]
    [DataRow(".", "0", "64", DiagnosticCodes.ExternalDataMissing, DisplayName = "location is the model's directory")]
    [DataRow("w\0.bin", "0", "64", DiagnosticCodes.ExternalDataMissing, DisplayName = "location with a NUL character")]
    public void WhenExternalDataReferenceIsBad_ThenLoadFailsWithItsCode(string location, string offset, string? length, string code)
    {
        using var temp = new TempDirectory();
        Directory.CreateDirectory(temp.File("model"));
        File.WriteAllBytes(temp.File("model/w.bin"), new byte[100]);
        File.WriteAllBytes(temp.File("w.bin"), new byte[100]); // reachable through "..", which must still be refused
        var entries = new List<(string, string)> { ("location", location), ("offset", offset) };
        if (length is not null) entries.Add(("length", length));
        var path = temp.File("model/model.onnx");
        File.WriteAllBytes(path, ModelBytes.ExternalModel([.. entries]).ToByteArray());
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Load(path));
        Assert.AreEqual(code, e.Code, e.Message);
    }

    [TestMethod]
    public void WhenExternalDataIsValid_ThenItReadsTheRange()
    {
        using var temp = new TempDirectory();
        var data = Enumerable.Range(0, 100).Select(i => (byte)i).ToArray();
        File.WriteAllBytes(temp.File("w.bin"), data);
        File.WriteAllBytes(temp.File("m.onnx"), ModelBytes.ExternalModel(("location", "w.bin"), ("offset", "20"), ("length", "64")).ToByteArray());
        using var model = OnnxModel.Load(temp.File("m.onnx"));
        CollectionAssert.AreEqual(data[20..84], model.GetTensorBytes(model.Proto.Graph.Initializer[0]).ToArray());
    }

    [TestMethod]
    public void WhenExternalDataIsReadTwice_ThenBothReadsAreTheSameBytesInPlace()
    {
        using var temp = new TempDirectory();
        File.WriteAllBytes(temp.File("w.bin"), Enumerable.Range(0, 100).Select(i => (byte)i).ToArray());
        File.WriteAllBytes(temp.File("m.onnx"), ModelBytes.ExternalModel(("location", "w.bin"), ("offset", "20"), ("length", "64")).ToByteArray());
        using var model = OnnxModel.Load(temp.File("m.onnx"));
        var tensor = model.Proto.Graph.Initializer[0];
        var first = model.GetTensorBytes(tensor).Span;
        var second = model.GetTensorBytes(tensor).Span;
        // A copy per read would be two buffers; a range of the mapping is the same memory each time.
        Assert.IsTrue(Unsafe.AreSame(ref MemoryMarshal.GetReference(first), ref MemoryMarshal.GetReference(second)), "the payload is read in place, not copied");
        Assert.AreEqual((byte)20, first[0]);
    }

    [TestMethod]
    public void WhenATensorLiesPast2GiBOfItsDataFile_ThenItReadsAndSavesByteForByte()
    {
        using var temp = new TempDirectory();
        // A sparse 3 GiB file: only the tensor's 64 bytes, 2.5 GiB in, are written to disk.
        const long offset = 5L << 29;
        var payload = Enumerable.Range(0, 64).Select(i => (byte)(i * 7 + 1)).ToArray();
        using (var stream = new FileStream(temp.File("w.bin"), FileMode.CreateNew))
        {
            stream.SetLength(3L << 30);
            stream.Position = offset;
            stream.Write(payload);
        }
        File.WriteAllBytes(temp.File("m.onnx"), ModelBytes.ExternalModel(("location", "w.bin"), ("offset", offset.ToString()), ("length", "64")).ToByteArray());
        using var model = OnnxModel.Load(temp.File("m.onnx"));
        CollectionAssert.AreEqual(payload, model.GetTensorBytes(model.Proto.Graph.Initializer[0]).ToArray());

        // Saved with external data kept, the tensor is copied into the new data file; inline, into the model.
        model.Save(temp.File("out/kept.onnx"));
        using (var kept = OnnxModel.Load(temp.File("out/kept.onnx")))
            CollectionAssert.AreEqual(payload, kept.GetTensorBytes(kept.Proto.Graph.Initializer[0]).ToArray());
        Assert.AreEqual(64, new FileInfo(temp.File("out/kept.onnx.data")).Length);
        model.Save(temp.File("out/inline.onnx"), new SaveOptions { ExternalData = ExternalDataPolicy.None });
        using var inline = OnnxModel.Load(temp.File("out/inline.onnx"));
        Assert.IsFalse(TensorData.IsExternal(inline.Proto.Graph.Initializer[0]));
        CollectionAssert.AreEqual(payload, inline.GetTensorBytes(inline.Proto.Graph.Initializer[0]).ToArray());
    }

    [TestMethod]
    public void WhenTheModelIsDisposed_ThenAPayloadStillHeldReadsTheSameBytes()
    {
        using var temp = new TempDirectory();
        var data = Enumerable.Range(0, 100).Select(i => (byte)(255 - i)).ToArray();
        File.WriteAllBytes(temp.File("w.bin"), data);
        File.WriteAllBytes(temp.File("m.onnx"), ModelBytes.ExternalModel(("location", "w.bin"), ("offset", "8"), ("length", "64")).ToByteArray());
        ReadOnlyMemory<byte> held;
        using (var model = OnnxModel.Load(temp.File("m.onnx")))
        {
            held = model.GetTensorBytes(model.Proto.Graph.Initializer[0]);
            Assert.AreEqual(data[8], held.Span[0]);
        }
        // Dispose dropped the resident pages; the mapping itself stays while the payload is referenced.
        CollectionAssert.AreEqual(data[8..72], held.ToArray());
    }

    [TestMethod]
    public void WhenExternalModelComesFromMemory_ThenCT0104()
    {
        var bytes = ModelBytes.ExternalModel(("location", "w.bin"), ("offset", "0"), ("length", "64")).ToByteArray();
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(bytes));
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, e.Code);
    }
}
