using System.Runtime.InteropServices;
using CompressTasks.Engine.Tuning;
using CompressTasks.Model.Onnx;
using Google.Protobuf;

namespace CompressTasks.Engine.Tests.Tuning;

[TestClass]
public sealed class SensitivityAnalysisTests
{
    private string _dir = null!;

    public TestContext TestContext { get; set; } = null!;

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-sens-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    // x[8,64] ─MatMul(A[64,64])─ Relu ─MatMul(B[64,16])─▶ y, random weights in ±1.
    private string Model()
    {
        var random = new Random(11);
        float[] Values(int n) => [.. Enumerable.Range(0, n).Select(_ => random.NextSingle() * 2 - 1)];
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" }, OpsetImport = { new OperatorSetIdProto { Version = 13 } } };
        var g = model.Graph;
        g.Input.Add(Info("x", 8, 64));
        g.Output.Add(Info("y", 8, 16));
        foreach (var (name, dims) in new[] { ("A", new long[] { 64, 64 }), ("B", new long[] { 64, 16 }) })
        {
            var values = Values((int)(dims[0] * dims[1]));
            g.Initializer.Add(new TensorProto { Name = name, DataType = 1, Dims = { dims }, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) });
        }
        g.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm1", Input = { "x", "A" }, Output = { "h" } });
        g.Node.Add(new NodeProto { OpType = "Relu", Name = "relu", Input = { "h" }, Output = { "r" } });
        g.Node.Add(new NodeProto { OpType = "MatMul", Name = "mm2", Input = { "r", "B" }, Output = { "y" } });
        var path = Path.Combine(_dir, "model.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static ValueInfoProto Info(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    // A combined candidate is one treatment: each layer gets both passes, in order, and its cell measures the two together:
    // half of the weights pruned and the rest in int8 saves what int8 saves (dense zeros take their bytes) and drifts
    // more than int8 alone.
    [TestMethod]
    public void WhenACandidateIsASequenceOfPasses_EachLayerIsMeasuredWithAllOfThemApplied()
    {
        var recipe = Path.Combine(_dir, "compression.yaml");
        File.WriteAllText(recipe, "passes:\n  - eliminate-identity\nauto:\n  candidates:\n    - quantize-weights-int8: { per-channel: false }\n" +
            "    - [{ prune-magnitude: { sparsity: 0.5 } }, { quantize-weights-int8: { per-channel: false } }]\n");

        var table = Tuner.Sensitivity(Model(), recipe);

        CollectionAssert.AreEqual(new[] { "quantize-weights-int8 { per-channel: false }", "prune-magnitude { sparsity: 0.5 } then quantize-weights-int8 { per-channel: false }" },
            table.Treatments.ToArray());
        foreach (var layer in new[] { "A", "B" })
        {
            var alone = table.Find(layer, 0)!;
            var combined = table.Find(layer, 1)!;
            TestContext.WriteLine($"{layer}: int8 {alone.BytesSaved} bytes saved, cosine {alone.Cosine:F6}; prune then int8 {combined.BytesSaved} bytes saved, cosine {combined.Cosine:F6}");
            Assert.AreEqual(alone.BytesSaved, combined.BytesSaved, $"{layer}: int8 bytes either way");
            Assert.IsLessThan(alone.Cosine, combined.Cosine, $"{layer}: pruning half the weights first adds drift");
        }
    }
}
