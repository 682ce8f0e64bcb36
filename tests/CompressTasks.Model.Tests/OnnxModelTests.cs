using CompressTasks.Diagnostics;
using CompressTasks.TestSupport;
using Google.Protobuf;

namespace CompressTasks.Model.Tests;

/// <summary>
/// OnnxModel.Load on broken inputs: every failure is a <see cref="CompressTasksException"/> with its documented code,
/// never another exception type. (Parser-level corruption is in Wire/HollowParserTests, external data in IO/ExternalDataStoreTests.)
/// </summary>
[TestClass]
public sealed class OnnxModelTests
{
    [TestMethod]
    public void WhenFileIsMissing_ThenCT0101()
    {
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Load(Path.Combine(Path.GetTempPath(), Guid.NewGuid() + ".onnx")));
        Assert.AreEqual(DiagnosticCodes.ModelNotFound, e.Code);
    }

    [TestMethod]
    [DataRow("", DisplayName = "empty path")]
    [DataRow("bad\0name.onnx", DisplayName = "path with a NUL character")]
    [DataRow("/", DisplayName = "a directory")]
    public void WhenPathCannotBeOpened_ThenCT0101(string path)
    {
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Load(path));
        Assert.AreEqual(DiagnosticCodes.ModelNotFound, e.Code, e.Message);
    }

    [TestMethod]
    public void WhenFileIsEmpty_ThenCT0102()
    {
        using var temp = new TempDirectory();
        File.WriteAllBytes(temp.File("empty.onnx"), []);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Load(temp.File("empty.onnx")));
        Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code);
        Assert.AreEqual(temp.File("empty.onnx"), e.File);
    }

    [TestMethod]
    public void WhenFileIsOver2GiB_ThenCT0103WithoutReadingIt()
    {
        using var temp = new TempDirectory();
        var path = temp.File("huge.onnx");
        using (var sparse = new FileStream(path, FileMode.CreateNew)) sparse.SetLength(OnnxModel.ProtobufLimit + 1L);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Load(path));
        Assert.AreEqual(DiagnosticCodes.ModelTooLarge, e.Code);
        Assert.IsLessThan(2000, clock.ElapsedMilliseconds, "Load read the file instead of checking its length");
    }

    [TestMethod]
    public void WhenModelHasNoGraph_ThenCT0102()
    {
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(new Onnx.ModelProto { IrVersion = 8 }.ToByteArray()));
        Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code);
    }

    [TestMethod]
    public void WhenModelIsBuiltInMemory_ThenItSavesAndOrtRunsIt()
    {
        using var temp = new TempDirectory();
        using (var model = OnnxModel.FromProto(ModelBytes.AddModel())) model.Save(temp.File("add.onnx"));
        var x = TensorValue.FromFloats("x", [16], Enumerable.Repeat(1f, 16).ToArray());
        var y = OrtRunner.Run(temp.File("add.onnx"), [x], Microsoft.ML.OnnxRuntime.GraphOptimizationLevel.ORT_DISABLE_ALL)[0];
        CollectionAssert.AreEqual(Enumerable.Range(1, 16).Select(i => (float)i).ToArray(), System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(y.Data).ToArray());
    }

    [TestMethod]
    public void WhenALiveModelMapsTheSameFile_ALoadSharesTheMappingUntilTheFileIsReplaced()
    {
        using var temp = new TempDirectory();
        var path = temp.File("big.onnx");
        // 2 MB of float payload: over the 1 MiB mapping threshold.
        var weight = new Onnx.TensorProto { Name = "w", DataType = 1, Dims = { 1 << 19 }, RawData = ByteString.CopyFrom(new byte[2 << 20]) };
        using (var built = OnnxModel.FromProto(ModelBytes.AddModel(weight))) built.Save(path);
        using var first = OnnxModel.Load(path);
        using var second = OnnxModel.Load(path);
        var a = first.GetTensorBytes(first.Proto.Graph.Initializer[0]);
        var b = second.GetTensorBytes(second.Proto.Graph.Initializer[0]);
        Assert.IsTrue(System.Runtime.CompilerServices.Unsafe.AreSame(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(a.Span),
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(b.Span)), "one mapping for both models");

        // Replaced by rename (as Save does) with other values: a new load maps the new file; the old models keep theirs.
        var replaced = new Onnx.TensorProto { Name = "w", DataType = 1, Dims = { 1 << 19 }, RawData = ByteString.CopyFrom(Enumerable.Repeat((byte)1, 2 << 20).ToArray()) };
        using (var built = OnnxModel.FromProto(ModelBytes.AddModel(replaced))) built.Save(path);
        System.IO.File.SetLastWriteTimeUtc(path, System.IO.File.GetLastWriteTimeUtc(path).AddSeconds(1));
        using var third = OnnxModel.Load(path);
        Assert.AreEqual(1, third.GetTensorBytes(third.Proto.Graph.Initializer[0]).Span[0]);
        Assert.AreEqual(0, first.GetTensorBytes(first.Proto.Graph.Initializer[0]).Span[0]);
    }

    [TestMethod]
    public void WhenOneOfTwoModelsSharingAMappingIsDisposed_ThenTheOtherAndHeldPayloadsReadTheSameBytes()
    {
        using var temp = new TempDirectory();
        var path = temp.File("big.onnx");
        var values = Enumerable.Range(0, 2 << 20).Select(i => (byte)(i * 31)).ToArray();
        var weight = new Onnx.TensorProto { Name = "w", DataType = 1, Dims = { 1 << 19 }, RawData = ByteString.CopyFrom(values) };
        using (var built = OnnxModel.FromProto(ModelBytes.AddModel(weight))) built.Save(path);
        using var kept = OnnxModel.Load(path);
        ReadOnlyMemory<byte> held;
        using (var disposed = OnnxModel.Load(path))
        {
            held = disposed.GetTensorBytes(disposed.Proto.Graph.Initializer[0]);
            Assert.AreEqual(values[1], held.Span[1]);
        }
        // Dispose dropped the shared mapping's resident pages: both readers fault them in again, unchanged.
        CollectionAssert.AreEqual(values, held.ToArray());
        CollectionAssert.AreEqual(values, kept.GetTensorBytes(kept.Proto.Graph.Initializer[0]).ToArray());
    }
}
