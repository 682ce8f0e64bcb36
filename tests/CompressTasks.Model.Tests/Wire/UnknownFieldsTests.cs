using CompressTasks.Model.Onnx;
using Google.Protobuf;

namespace CompressTasks.Model.Tests.Wire;

/// <summary>Fields our schema does not model (newer IR versions, vendor extensions) survive load and save untouched.</summary>
[TestClass]
public sealed class UnknownFieldsTests
{
    // Appends field `number` (length-delimited) to a serialized message, as a newer writer would.
    private static byte[] WithUnknown(byte[] message, int number, string text)
    {
        var output = new MemoryStream();
        output.Write(message);
        var coded = new CodedOutputStream(output);
        coded.WriteTag(number, WireFormat.WireType.LengthDelimited);
        coded.WriteString(text);
        coded.Flush();
        return output.ToArray();
    }

    [TestMethod]
    public void WhenEveryLevelCarriesUnknownFields_SaveIsByteIdenticalAndKeepsThem()
    {
        var raw = ByteString.CopyFrom(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray());
        var tensor = TensorProto.Parser.ParseFrom(WithUnknown(new TensorProto { Name = "w", DataType = 1, Dims = { 8 }, RawData = raw }.ToByteArray(), 99, "tensor-extra"));
        var node = NodeProto.Parser.ParseFrom(WithUnknown(new NodeProto { OpType = "Add", Input = { "x", "w" }, Output = { "y" } }.ToByteArray(), 10, "node-extra"));
        var graph = new GraphProto { Name = "g", Node = { node }, Initializer = { tensor } };
        graph = GraphProto.Parser.ParseFrom(WithUnknown(graph.ToByteArray(), 99, "graph-extra"));
        var model = new ModelProto { IrVersion = 11, Graph = graph, OpsetImport = { new OperatorSetIdProto { Version = 21 } } };
        var bytes = WithUnknown(model.ToByteArray(), 26, "model-extra");

        var source = Path.Combine(Path.GetTempPath(), $"ct-unknown-{Guid.NewGuid():N}.onnx");
        var saved = source + ".saved.onnx";
        File.WriteAllBytes(source, bytes);
        try
        {
            using (var loaded = OnnxModel.Load(source))
            {
                Assert.IsTrue(loaded.GetTensorBytes(loaded.Proto.Graph.Initializer[0]).Span.SequenceEqual(raw.Span));
                loaded.Save(saved);
            }
            var written = File.ReadAllBytes(saved);
            CollectionAssert.AreEqual(bytes, written);
            var text = System.Text.Encoding.ASCII.GetString(written);
            foreach (var marker in new[] { "tensor-extra", "node-extra", "graph-extra", "model-extra" })
                StringAssert.Contains(text, marker);
        }
        finally
        {
            File.Delete(source);
            File.Delete(saved);
        }
    }
}
