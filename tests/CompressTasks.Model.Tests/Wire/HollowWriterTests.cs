using CompressTasks.Model.Onnx;
using Google.Protobuf;

namespace CompressTasks.Model.Tests.Wire;

/// <summary>
/// The hollow writer's bytes equal protobuf's own serialization whichever way each payload is written: through the
/// buffer (small), straight from memory (large, parsed from bytes) or by the kernel from the mapped source file
/// (large, loaded from a file of 1 MiB or more), with unknown fields before and after the fields it writes itself.
/// </summary>
[TestClass]
public sealed class HollowWriterTests
{
    private static ByteString Payload(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return ByteString.CopyFrom(bytes);
    }

    private static byte[] WithUnknown(IMessage message, int number, string text)
    {
        var output = new MemoryStream();
        var coded = new CodedOutputStream(output);
        message.WriteTo(coded);
        coded.WriteTag(number, WireFormat.WireType.LengthDelimited);
        coded.WriteString(text);
        coded.Flush();
        return output.ToArray();
    }

    // raw_data, float_data and int64_data payloads over the direct-write threshold, a small one, and unknown fields:
    // GraphProto 3 is numbered before initializer (5), so it must stay after every initializer, as protobuf writes it.
    private static byte[] LargeModel()
    {
        var raw = new TensorProto { Name = "raw", DataType = 2, Dims = { 600_000 }, RawData = Payload(600_000, 1) };
        var floats = new TensorProto { Name = "floats", DataType = 1, Dims = { 75_000 }, FloatData = Payload(300_000, 2) };
        var longs = TensorProto.Parser.ParseFrom(WithUnknown(
            new TensorProto { Name = "longs", DataType = 2, Dims = { 200_000 }, Int64Data = Payload(200_000, 3) }, 99, "tensor-extra"));
        var small = new TensorProto { Name = "small", DataType = 2, Dims = { 100 }, RawData = Payload(100, 4) };
        var graph = new GraphProto { Name = "g", Node = { new NodeProto { OpType = "Identity", Input = { "raw" }, Output = { "y" } } }, Initializer = { raw, floats, longs, small } };
        graph = GraphProto.Parser.ParseFrom(WithUnknown(graph, 3, "graph-extra"));
        var model = new ModelProto { IrVersion = 8, Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
        return WithUnknown(model, 99, "model-extra");
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void WhenLargePayloadsAreSaved_TheBytesAreProtobufs(bool fromFile)
    {
        var bytes = LargeModel();
        Assert.IsGreaterThan(1 << 20, bytes.Length, "over the mapping threshold, so Load maps the file");
        using var temp = new TempDirectory();
        var source = temp.File("source.onnx");
        File.WriteAllBytes(source, bytes);
        using var model = fromFile ? OnnxModel.Load(source) : OnnxModel.Parse(bytes);
        model.Save(temp.File("saved.onnx"));
        CollectionAssert.AreEqual(bytes, File.ReadAllBytes(temp.File("saved.onnx")));
    }

    [TestMethod]
    public void WhenSomePayloadsOfAMappedModelAreReplaced_TheBytesAreProtobufs()
    {
        using var temp = new TempDirectory();
        var source = temp.File("source.onnx");
        File.WriteAllBytes(source, LargeModel());
        using var model = OnnxModel.Load(source);
        var graph = model.Proto.Graph;
        graph.Initializer[0].RawData = Payload(500_000, 5);
        graph.Initializer[0].Dims[0] = 500_000;
        graph.Initializer.Add(new TensorProto { Name = "added", DataType = 2, Dims = { 70_000 }, RawData = Payload(70_000, 6) });

        model.Save(temp.File("saved.onnx"));

        CollectionAssert.AreEqual(model.Proto.ToByteArray(), File.ReadAllBytes(temp.File("saved.onnx")));
        CollectionAssert.AreEqual(LargeModel(), File.ReadAllBytes(source), "the source is never modified");
    }
}
