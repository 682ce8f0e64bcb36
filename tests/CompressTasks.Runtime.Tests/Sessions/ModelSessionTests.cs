using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Runtime.Data;
using CompressTasks.TestSupport;
using Google.Protobuf;

namespace CompressTasks.Runtime.Tests.Sessions;

[TestClass]
public sealed class ModelSessionTests
{
    public TestContext TestContext { get; set; } = null!;

    private static readonly RuntimeOptions AsWritten = new() { Optimization = OptimizationLevel.Disabled, IntraOpThreads = 1 };

    // mnist-mlp with its hidden activation exposed: weights of 1.6 MB and 256 KB (shared), biases of 2 KB (kept).
    private static (OnnxModel Model, ModelProto Exposed, Dictionary<string, TensorValue> Feed) Mnist()
    {
        var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
        var model = OnnxModel.Load(path);
        var exposed = model.Proto.Clone();
        exposed.Graph.Output.Add(new ValueInfoProto { Name = "relu1" });
        var calibration = Path.Combine(Path.GetDirectoryName(path)!, "data", "calib_images.npy");
        using var probe = ModelSession.Open(path, AsWritten);
        var feed = FeedLoader.Load(calibration, probe.Inputs, maxRows: 16, batchSize: 16).First();
        return (model, exposed, new Dictionary<string, TensorValue>(feed));
    }

    [TestMethod]
    [DataRow(false)]
    [DataRow(true)]
    public void WhenWeightsAreHandedOverInPlace_OutputsAreThoseOfTheSerializedModel(bool declaredAsInputs)
    {
        var (model, exposed, feed) = Mnist();
        using (model)
        {
            // As exporters before IR 4 wrote them: every initializer also a graph input (the tree keeps one entry).
            if (declaredAsInputs)
                foreach (var t in exposed.Graph.Initializer)
                    exposed.Graph.Input.Add(new ValueInfoProto
                    {
                        Name = t.Name,
                        Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = t.DataType, Shape = Shape(t.Dims) } },
                    });
            using var serialized = ModelSession.Open(exposed.ToByteArray(), "serialized", AsWritten);
            using var shared = ModelSession.OpenAsWritten(exposed, model, "shared", AsWritten);

            // The weights became inputs of the tree ONNX Runtime loaded, but callers only see the model's own.
            CollectionAssert.AreEqual(serialized.Inputs.Select(i => i.Name).ToArray(), shared.Inputs.Select(i => i.Name).ToArray());
            var expected = serialized.Run(feed);
            var actual = shared.Run(feed);
            for (int i = 0; i < expected.Count; i++)
            {
                var (a, b) = (expected[i].As<float>().ToArray(), actual[i].As<float>().ToArray());
                double worst = 0;
                for (int j = 0; j < a.Length; j++) worst = Math.Max(worst, Math.Abs(a[j] - b[j]) / (1 + Math.Abs(a[j])));
                TestContext.WriteLine($"{serialized.Outputs[i].Name}: worst relative difference {worst:E2}");
                // The same kernels at the same level; only MatMul's packing of a constant B can change the summation.
                Assert.IsTrue(worst < 1e-5, $"{serialized.Outputs[i].Name}: {worst}");
            }
        }
    }

    [TestMethod]
    public void WhenOutputsAreVisited_TheyAreTheCopiedOutputsInOrder()
    {
        var (model, exposed, feed) = Mnist();
        using (model)
        {
            using var session = ModelSession.OpenAsWritten(exposed, model, "visited", AsWritten);
            var names = new[] { "relu1", session.Outputs[0].Name };
            var copied = session.Run(feed, names);
            var seen = new List<int>();
            session.Run(feed, names, (i, type, shape, data) =>
            {
                seen.Add(i);
                Assert.AreEqual(copied[i].ElementType, type);
                CollectionAssert.AreEqual(copied[i].Shape, shape.ToArray());
                CollectionAssert.AreEqual(copied[i].Data, data.ToArray());
            });
            CollectionAssert.AreEqual(new[] { 0, 1 }, seen);
        }
    }

    [TestMethod]
    public void WhenTheModelKeepsItsWeightsAsExternalData_TheyAreHandedOverAsWell()
    {
        var (model, exposed, feed) = Mnist();
        using var directory = new TempFolder();
        using (model)
        {
            // Saved with every tensor external, small ones too: those are inlined, the large ones shared.
            var path = Path.Combine(directory.Path, "external.onnx");
            using (var copy = OnnxModel.FromProto(exposed)) copy.Save(path, new SaveOptions { ExternalData = ExternalDataPolicy.All, SizeThreshold = 0 });
            using var external = OnnxModel.Load(path);
            Assert.IsTrue(external.Proto.Graph.Initializer.All(TensorData.IsExternal));
            using var serialized = ModelSession.Open(exposed.ToByteArray(), "serialized", AsWritten);
            using var shared = ModelSession.OpenAsWritten(external.Proto, external, "external", AsWritten);
            var a = serialized.Run(feed, ["relu1"])[0].As<float>().ToArray();
            var b = shared.Run(feed, ["relu1"])[0].As<float>().ToArray();
            double worst = 0;
            for (int j = 0; j < a.Length; j++) worst = Math.Max(worst, Math.Abs(a[j] - b[j]) / (1 + Math.Abs(a[j])));
            Assert.IsTrue(worst < 1e-5, $"{worst}");
        }
    }

    [TestMethod]
    [DataRow(OptimizationLevel.Disabled)]
    [DataRow(OptimizationLevel.All)]
    public void WhenWeightsAreNotPrepacked_OutputsAreThoseOfAPrepackedSession(OptimizationLevel level)
    {
        var (model, exposed, feed) = Mnist();
        using (model)
        {
            var path = TestPaths.SharedModel("mnist-mlp/mnist-mlp.onnx");
            using var packed = ModelSession.Open(path, new RuntimeOptions { Optimization = level, IntraOpThreads = 1 });
            using var unpacked = ModelSession.Open(path, new RuntimeOptions { Optimization = level, IntraOpThreads = 1, PrepackWeights = false });
            var a = packed.Run(feed)[0].As<float>().ToArray();
            var b = unpacked.Run(feed)[0].As<float>().ToArray();
            double worst = 0;
            for (int j = 0; j < a.Length; j++) worst = Math.Max(worst, Math.Abs(a[j] - b[j]) / (1 + Math.Abs(a[j])));
            TestContext.WriteLine($"{level}: worst relative difference {worst:E2}");
            // Packing changes where MatMul reads B from, and at most its summation order.
            Assert.IsTrue(worst < 1e-5, $"{worst}");
        }
    }

    private static TensorShapeProto Shape(IEnumerable<long> dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return shape;
    }

    private sealed class TempFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("ct-session-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
