using CompressTasks.Diagnostics;
using Google.Protobuf;

namespace CompressTasks.Model.Tests.IO;

/// <summary>External data references that are wrong: each is caught at load with its documented code.</summary>
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
    public void WhenExternalModelComesFromMemory_ThenCT0104()
    {
        var bytes = ModelBytes.ExternalModel(("location", "w.bin"), ("offset", "0"), ("length", "64")).ToByteArray();
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(bytes));
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, e.Code);
    }
}
