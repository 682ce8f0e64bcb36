using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using CompressTasks.Cli.Commands;
using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Cli.Tests.Commands;

[TestClass]
public sealed class InspectCommandTests
{
    private string _dir = "";

    [TestInitialize]
    public void Setup() => Directory.CreateDirectory(_dir = Path.Combine(Path.GetTempPath(), $"ct-inspect-{Guid.NewGuid():N}"));

    [TestCleanup]
    public void Cleanup() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void WhenAGeneratedModelIsInspected_TextNamesEverything()
    {
        var path = WriteGenerated();
        var (rc, stdout, stderr) = Run(path);
        Assert.AreEqual(0, rc, stderr);
        StringAssert.Contains(stdout, "ir_version:  8");
        StringAssert.Contains(stdout, "producer:    gen 1.0");
        StringAssert.Contains(stdout, "ai.onnx 17, com.microsoft 1");
        StringAssert.Contains(stdout, "x  float [batch,4]");
        StringAssert.Contains(stdout, "y  float [batch,3]");
        StringAssert.Contains(stdout, "parameters:  15");
        StringAssert.Contains(stdout, "W  float [4,3]  48 bytes");
        StringAssert.Contains(stdout, "+1 in subgraphs");
        StringAssert.Contains(stdout, "(Constant node)");
    }

    [TestMethod]
    public void WhenJsonIsAsked_ItParsesAndHoldsTheSameFacts()
    {
        var (rc, stdout, stderr) = Run(WriteGenerated(), "--json");
        Assert.AreEqual(0, rc, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.AreEqual(8, root.GetProperty("irVersion").GetInt64());
        Assert.AreEqual(15, root.GetProperty("parameters").GetInt64());
        var shape = root.GetProperty("inputs")[0].GetProperty("shape");
        Assert.AreEqual("batch", shape[0].GetString());
        Assert.AreEqual(4, shape[1].GetInt64());
        Assert.AreEqual(60, root.GetProperty("bytesByType").GetProperty("float").GetInt64());
        var ops = root.GetProperty("operators").EnumerateArray().ToDictionary(o => o.GetProperty("opType").GetString()!);
        Assert.AreEqual(1, ops["MatMul"].GetProperty("mainGraph").GetInt32());
        Assert.AreEqual(1, ops["Neg"].GetProperty("subgraphs").GetInt32());
        Assert.AreEqual("W", root.GetProperty("largestConstants")[0].GetProperty("name").GetString());
    }

    [TestMethod]
    public void WhenARealModelIsInspected_ItsWeightsAreCounted()
    {
        var folder = Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared", "models", "mnist-mlp"));
        Assert.IsTrue(Directory.Exists(folder), $"the shared model folder {folder} is absent");
        var (rc, stdout, stderr) = Run(Path.Combine(folder, "mnist-mlp.onnx"), "--json");
        Assert.AreEqual(0, rc, stderr);
        using var doc = JsonDocument.Parse(stdout);
        // 784·512 + 512 + 512·256 + 256 + 256·10 + 10 weights and biases.
        Assert.AreEqual(535_818, doc.RootElement.GetProperty("parameters").GetInt64());
        Assert.AreEqual(13, doc.RootElement.GetProperty("opsets")[0].GetProperty("version").GetInt64());
    }

    [TestMethod]
    public void WhenTheFileIsCorrupt_ItFailsWithCT0102()
    {
        var path = Path.Combine(_dir, "corrupt.onnx");
        File.WriteAllBytes(path, [0x0A, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3]);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => Run(path));
        Assert.AreEqual(DiagnosticCodes.ModelMalformed, e.Code);
        Assert.AreEqual(path, e.File);
    }

    [TestMethod]
    [DataRow()]
    [DataRow("a.onnx", "b.onnx")]
    [DataRow("a.onnx", "--frobnicate")]
    public void WhenTheArgumentsAreWrong_ItExitsWithUsage(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        Assert.AreEqual(2, InspectCommand.Run(args, stdout, stderr));
        StringAssert.Contains(stderr.ToString(), "usage: compress inspect MODEL");
    }

    private static (int Rc, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = InspectCommand.Run(args, stdout, stderr);
        return (rc, stdout.ToString(), stderr.ToString());
    }

    private static string RepoRoot() =>
        typeof(InspectCommandTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepoRoot").Value!;

    // y = If(cond, then: Neg(MatMul(x, W) + b)) with W [4,3] float, b a Constant node [3]: 15 parameters, 60 bytes.
    private string WriteGenerated()
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "gen", ProducerVersion = "1.0", Graph = new GraphProto { Name = "main" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Version = 17 });
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        var g = model.Graph;
        g.Input.Add(Info("x", "batch", 4));
        g.Input.Add(new ValueInfoProto { Name = "cond", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Bool, Shape = new TensorShapeProto() } } });
        g.Output.Add(Info("y", "batch", 3));
        var w = new TensorProto { Name = "W", DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(new byte[48]) };
        w.Dims.Add([4, 3]);
        g.Initializer.Add(w);
        var b = new NodeProto { OpType = "Constant", Name = "bias" };
        b.Output.Add("b");
        var bt = new TensorProto { DataType = (int)DataType.Float, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(new float[] { 1, 2, 3 }.AsSpan())) };
        bt.Dims.Add(3);
        b.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = bt });
        g.Node.Add(b);
        g.Node.Add(Node("MatMul", ["x", "W"], ["m"]));
        g.Node.Add(Node("Add", ["m", "b"], ["a"]));
        var then = new GraphProto { Name = "then" };
        then.Output.Add(new ValueInfoProto { Name = "n" });
        then.Node.Add(Node("Neg", ["a"], ["n"]));
        var @else = new GraphProto { Name = "else" };
        @else.Output.Add(new ValueInfoProto { Name = "a" });
        var @if = Node("If", ["cond"], ["y"]);
        @if.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then });
        @if.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = @else });
        g.Node.Add(@if);
        var path = Path.Combine(_dir, "generated.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs)
    {
        var n = new NodeProto { OpType = op, Name = op };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    private static ValueInfoProto Info(string name, string batch, long width)
    {
        var shape = new TensorShapeProto();
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = batch });
        shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = width });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } };
    }
}
