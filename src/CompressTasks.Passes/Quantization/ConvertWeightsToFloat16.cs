using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Stores float32 weights as float16 and casts them back to float32 in the graph: half the bytes on disk, the
/// same float32 compute. ONNX Runtime folds the Casts when it loads the model, so inference speed is unchanged.
/// </summary>
/// <remarks>
/// <code>
///   W: float32 initializer ─▶ readers      ⇒      W_fp16: float16 initializer ─Cast(to=float)─▶ W ─▶ readers
/// </code>
/// W keeps its name, so every reader (in subgraphs too) and every sharing stays as it was: one Cast serves all of
/// them. Values outside float16's range (±65504) would become infinite: such tensors are skipped and reported.
/// An initializer that is also a graph input (IR 4 and later: a default the caller may override) keeps its type.
/// Works at every opset (Cast exists since opset 1); unlike a full float16 conversion, activations stay float32.
/// </remarks>
public sealed class ConvertWeightsToFloat16 : GraphPass
{
    public override PassDescriptor Descriptor { get; } = new(
        "convert-weights-fp16", PassKind.Quantization,
        "Stores float32 weights as float16 (half the size) and casts them back to float32 inside the graph.",
        [
            ParameterSpec.Int("min-elements", 16, "Smallest weight (in elements) worth converting; smaller ones stay float32.", minimum: 1),
            // Name globs, as every weight pass has: so per-layer overrides (layers:) and tune candidates work here too.
            ParameterSpec.StringList("include", "Weight name globs (* and ?) to convert; empty: every float32 weight."),
            ParameterSpec.StringList("exclude", "Weight name globs to leave float32; wins over include."),
        ],
        "- convert-weights-fp16: { min-elements: 1024 }");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        int minElements = arguments.GetInt("min-elements");
        var include = arguments.GetStringList("include").Select(WeightSelection.Glob).ToArray();
        var exclude = arguments.GetStringList("exclude").Select(WeightSelection.Glob).ToArray();
        bool Selected(string name) => (include.Length == 0 || include.Any(g => g.IsMatch(name))) && !exclude.Any(g => g.IsMatch(name));
        foreach (var graph in main.SelfAndDescendants().ToList())
        {
            var names = graph.Initializers.Where(t => t.DataType == 1).Select(t => t.Name)
                .Concat(graph.Nodes.Where(n => n.Is("Constant") && n.Outputs.Count == 1).Select(n => n.Outputs[0]))
                .ToList();
            foreach (var name in names)
            {
                var constant = graph.TryGetConstant(name);
                if (constant is null || constant.IsOuterScope || constant.DataType != 1 || constant.ElementCount < minElements) continue;
                if (graph.UseCount(name) == 0 || !Selected(name)) continue;
                result.RecordMatch();
                var values = constant.AsFloat();
                // MaxMagnitude keeps the sign: −1e6 is the largest magnitude but not above Half.MaxValue, so compare |max|.
                if (TensorPrimitives.MaxMagnitude(values) is var max && !(Math.Abs(max) <= (float)Half.MaxValue))
                {
                    result.Skip($"'{name}' holds {max:G4}, outside float16's range");
                    continue;
                }
                var half = new Half[values.Length];
                TensorPrimitives.ConvertToHalf(values, half);
                var bytes = MemoryMarshal.AsBytes(half.AsSpan()).ToArray();
                var dims = constant.Dims.ToArray();
                if (constant.Node is { } node)
                {
                    // A Constant node: it now produces the float16 value, and a Cast right after restores the name.
                    var stored = graph.FreshName(name + "_fp16");
                    constant.Replace(10, dims, bytes);
                    node.SetOutput(0, stored);
                    graph.InsertAfter(node, Cast(graph, stored, name));
                }
                else
                {
                    var stored = Weights.Add(graph, name + "_fp16", 10, dims, bytes);
                    Weights.RemoveInitializer(graph, name);
                    graph.Insert(0, Cast(graph, stored.Name, name));
                }
                result.RecordRewrite();
            }
        }
    }

    private static NodeProto Cast(Graph graph, string input, string output)
    {
        var cast = new NodeProto { OpType = "Cast", Name = graph.FreshName("Cast_fp16") };
        cast.Input.Add(input);
        cast.Output.Add(output);
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        return cast;
    }
}
