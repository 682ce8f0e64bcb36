using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using CompressTasks.TestSupport;
using Google.Protobuf;

namespace CompressTasks.Model.Tests.Wire;

/// <summary>The zero-copy parser on corrupt bytes: truncation, noise, wrong wire types, deep nesting.</summary>
[TestClass]
public sealed class HollowParserTests
{
    public TestContext TestContext { get; set; } = null!;

    private static readonly HashSet<string> ModelCodes =
    [
        DiagnosticCodes.ModelMalformed, DiagnosticCodes.ExternalDataMissing, DiagnosticCodes.ExternalDataOutOfRange,
        DiagnosticCodes.ModelTooDeep, DiagnosticCodes.TensorDataInvalid,
    ];

    [TestMethod]
    [DataRow("mnist-mlp/mnist-mlp.onnx")]
    [DataRow("silero-vad-legacy/silero_vad_legacy.onnx")]
    [DataRow("ppocr-cls/ch_ppocr_mobile_v2.0_cls_infer.onnx")]
    public void WhenRealModelIsTruncated_ThenCT0102(string name)
    {
        var bytes = File.ReadAllBytes(TestPaths.SharedModel(name));
        int[] cuts = [1, 2, 7, 100, 1000, bytes.Length / 3, bytes.Length / 2, bytes.Length - 100, bytes.Length - 1];
        foreach (var cut in cuts)
        {
            var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(bytes.AsMemory(0, cut), name), $"cut at {cut}");
            Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code, $"cut at {cut}: {e.Message}");
        }
    }

    [TestMethod]
    public void WhenBytesAreRandom_ThenOnlyCompressTasksExceptionsEscape()
    {
        var random = new Random(20261124);
        var real = File.ReadAllBytes(TestPaths.SharedModel("wakeword-hello/hello_deepa.onnx"));
        var codes = new Dictionary<string, int>();
        int loaded = 0, saved = 0;
        using var temp = new TempDirectory();
        for (int i = 0; i < 2000; i++)
        {
            byte[] bytes;
            if (i % 2 == 0)
            {
                bytes = new byte[random.Next(1, 4096)];
                random.NextBytes(bytes);
            }
            else
            {
                // A real model with a few bytes flipped: structure mostly intact, so the deeper paths run.
                bytes = (byte[])real.Clone();
                for (int k = random.Next(1, 8); k > 0; k--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }
            try
            {
                using var model = OnnxModel.Parse(bytes);
                loaded++;
                TensorVisitor.ForEachTensor(model.Proto, t =>
                {
                    try { if (t.DataType != 8) model.GetTensorBytes(t); }
                    catch (CompressTasksException e) { Assert.Contains(e.Code, ModelCodes, e.Message); }
                });
                // What parses must also save (or refuse with a code), and what we save must parse again.
                try
                {
                    model.Save(temp.File("fuzz.onnx"));
                    using var again = OnnxModel.Load(temp.File("fuzz.onnx"));
                    saved++;
                }
                catch (CompressTasksException e) { Assert.Contains(e.Code, [.. ModelCodes, DiagnosticCodes.ModelWriteFailed], e.ToString()); }
            }
            catch (CompressTasksException e)
            {
                Assert.Contains(e.Code, ModelCodes, e.ToString());
                codes[e.Code] = codes.GetValueOrDefault(e.Code) + 1;
            }
        }
        Assert.IsEmpty(temp.Entries().Where(e => e != "fuzz.onnx"), "a temp file was left behind");
        TestContext.WriteLine($"2000 corrupt inputs: {loaded} parsed (flips in non-structural bytes), {saved} of those saved and reloaded, rejected: " +
            string.Join(", ", codes.OrderBy(p => p.Key).Select(p => $"{p.Key} ×{p.Value}")));
    }

    [TestMethod]
    [DataRow(3, DisplayName = "start group")]
    [DataRow(4, DisplayName = "end group")]
    [DataRow(6, DisplayName = "wire type 6")]
    [DataRow(7, DisplayName = "wire type 7")]
    public void WhenAFieldHasAWireTypeOnnxDoesNotUse_ThenCT0102(int wireType)
    {
        var good = ModelBytes.AddModel().ToByteArray();
        // At the top level, then inside the graph's initializer (a tensor path), then inside a node.
        byte[][] cases =
        [
            [.. good, (byte)((1 << 3) | wireType), 0],
            Splice(ModelBytes.AddModel(), g => g.Initializer[0].Name = "\u0001", wireType),
        ];
        foreach (var bytes in cases)
        {
            var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(bytes));
            Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code, e.Message);
        }
    }

    // Serializes the model with a marker string, then rewrites the marker's tag (field 8, wire type 2) to another wire type.
    private static byte[] Splice(ModelProto model, Action<GraphProto> mark, int wireType)
    {
        mark(model.Graph);
        var bytes = model.ToByteArray();
        // Tensor name: tag 0x42 (field 8, wire type 2), length 1, value 0x01.
        int at = bytes.AsSpan().IndexOf(new byte[] { 0x42, 1, 1 });
        Assert.IsGreaterThanOrEqualTo(0, at);
        bytes[at] = (byte)((8 << 3) | wireType);
        return bytes;
    }

    [TestMethod]
    public void WhenTheGraphFieldIsAVarint_ThenCT0102NoGraph()
    {
        // Field 7 (graph) sent as a varint: not a graph at all.
        byte[] bytes = [0x08, 0x08, 7 << 3, 0x05];
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(bytes));
        Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code);
    }

    [TestMethod]
    [DataRow(20)]
    [DataRow(40)]
    [DataRow(200)]
    public void WhenIfNodesNestDeeperThanTheLimit_ThenCT0106(int depth)
    {
        var bytes = ModelBytes.NestedIf(depth).ToByteArray();
        // Each If level is three messages deep (graph → node → attribute); the parser allows 100 levels (HollowParser.MaxDepth).
        if (3 * depth + 4 < 100)
        {
            using var model = OnnxModel.Parse(bytes);
            int tensors = 0;
            TensorVisitor.ForEachTensor(model.Proto, t => { tensors++; Assert.AreEqual(64, model.GetTensorBytes(t).Length); });
            Assert.AreEqual(1, tensors);
            return;
        }
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(bytes));
        Assert.AreEqual(DiagnosticCodes.ModelTooDeep, e.Code, e.Message);
    }

    [TestMethod]
    public void WhenTypeProtosNestDeeperThanProtobufAllows_ThenCT0102()
    {
        var model = ModelBytes.AddModel();
        var type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } };
        for (int i = 0; i < 150; i++) type = new TypeProto { SequenceType = new TypeProto.Types.Sequence { ElemType = type } };
        model.Graph.ValueInfo.Add(new ValueInfoProto { Name = "deep", Type = type });
        var e = Assert.ThrowsExactly<CompressTasksException>(() => OnnxModel.Parse(model.ToByteArray()));
        Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code, e.Message);
    }
}
