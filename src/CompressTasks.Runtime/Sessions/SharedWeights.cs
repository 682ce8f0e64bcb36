using System.Buffers;
using CompressTasks.Diagnostics;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace CompressTasks.Runtime;

/// <summary>
/// The large initializers of a model handed to ONNX Runtime in place: the tree ONNX Runtime loads declares them
/// as graph inputs without data, and every run feeds pinned views of the payloads already in memory, which ONNX
/// Runtime reads without copying. Lives as long as the session that uses it.
/// </summary>
/// <remarks>
/// Shared initializers through <c>SessionOptions.AddInitializer</c> would keep them initializers, but ONNX Runtime
/// validates the embedded data of every initializer in the tree before it looks at shared ones, so the tree would
/// still have to carry the bytes. As inputs, the weights are not constants to ONNX Runtime: it cannot fold or fuse
/// them, which is why only sessions that run the graph as written use this.
/// </remarks>
internal sealed class SharedWeights : IDisposable
{
    /// <summary>Payloads from this size on are shared; smaller ones stay in the tree, where they cost nothing.</summary>
    private const int MinimumBytes = 16 << 10;

    private readonly List<MemoryHandle> _pins = [];

    /// <summary>
    /// Moves the large float-like initializers of <paramref name="proto"/>'s main graph to inputs fed in place and
    /// serializes the rest, with any other external data of the main graph inlined. Integer tensors stay in the
    /// tree: ONNX Runtime reads shapes and indices from it while resolving the graph.
    /// </summary>
    public static SharedWeights Split(ModelProto proto, OnnxModel? source, string displayName, out byte[] hollow)
    {
        var weights = new SharedWeights();
        try
        {
            var copy = proto.Clone();
            var graph = copy.Graph;
            var declared = graph.Input.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
            var kept = new List<TensorProto>(graph.Initializer.Count);
            ReadOnlyMemory<byte> Payload(TensorProto t) => source is null ? TensorData.GetBytes(t, null) : source.GetTensorBytes(t);
            foreach (var tensor in graph.Initializer)
            {
                var bytes = Shareable(tensor) ? Payload(tensor) : default;
                if (bytes.Length < MinimumBytes)
                {
                    // ONNX Runtime gets bytes, not a file, so it could not resolve an external reference.
                    if (TensorData.IsExternal(tensor)) TensorData.SetBytes(tensor, Payload(tensor));
                    kept.Add(tensor);
                    continue;
                }
                weights.Add(tensor, bytes);
                // Before IR 4 every initializer is also declared as an input; from IR 4 on it usually is not.
                if (declared.Add(tensor.Name)) graph.Input.Add(Declare(tensor));
            }
            graph.Initializer.Clear();
            graph.Initializer.AddRange(kept);
            hollow = copy.ToByteArray();
            return weights;
        }
        catch (OnnxRuntimeException e)
        {
            weights.Dispose();
            throw new CompressTasksException(DiagnosticCodes.RuntimeFailed, $"ONNX Runtime cannot be given the model's weights: {e.Message}", displayName, inner: e);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    private static ValueInfoProto Declare(TensorProto tensor)
    {
        var shape = new TensorShapeProto();
        foreach (long d in tensor.Dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = tensor.Name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = tensor.DataType, Shape = shape } },
        };
    }

    /// <summary>Names of the weights fed as inputs, in the order of <see cref="Values"/>.</summary>
    public IReadOnlyList<string> Names => _names;

    /// <summary>The weights' views, fed with every run.</summary>
    public IReadOnlyList<OrtValue> Values => _values;

    /// <summary>True when <paramref name="name"/> is a weight fed as an input.</summary>
    public bool Contains(string name) => _lookup.Contains(name);

    private readonly List<string> _names = [];
    private readonly List<OrtValue> _values = [];
    private readonly HashSet<string> _lookup = new(StringComparer.Ordinal);

    private static bool Shareable(TensorProto tensor) =>
        tensor.DataType is (int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Float16
            or (int)TensorProto.Types.DataType.Double or (int)TensorProto.Types.DataType.Bfloat16
            or (int)TensorProto.Types.DataType.Int8 or (int)TensorProto.Types.DataType.Uint8;

    private unsafe void Add(TensorProto tensor, ReadOnlyMemory<byte> bytes)
    {
        var pin = bytes.Pin();
        _pins.Add(pin);
        var value = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, (TensorElementType)tensor.DataType,
            tensor.Dims.ToArray(), (IntPtr)pin.Pointer, bytes.Length);
        _names.Add(tensor.Name);
        _values.Add(value);
        _lookup.Add(tensor.Name);
    }

    public void Dispose()
    {
        foreach (var value in _values) value.Dispose();
        foreach (var pin in _pins) pin.Dispose();
        _values.Clear();
        _pins.Clear();
        _names.Clear();
        _lookup.Clear();
    }
}
