using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Quantization;

/// <summary>
/// Converts weights and compute to float16: float32 initializers and Constant nodes become float16, and every
/// float32 value inside the graph (value_info and subgraphs included) becomes float16. Unlike
/// <see cref="ConvertWeightsToFloat16"/> (float16 storage, Casts back to float32, float32 compute), the model
/// then runs in float16 where the execution provider has float16 kernels (GPUs); on ONNX Runtime's CPU provider
/// most ops have none and ONNX Runtime adds Casts around them itself, so it runs, but slower than float32.
/// </summary>
/// <remarks>
/// <code>
///   x: f32 ─▶ Conv(W: f32) ─▶ Relu ─▶ TopK ─▶ y: f32
///     ⇒  (keep-io-types: true; TopK on the op-block-list)
///   x: f32 ─Cast(to=f16)─▶ Conv(W: f16) ─▶ Relu ─Cast(to=f32)─▶ TopK ─▶ y: f32
/// </code>
/// Values: a float32 output of a converted node becomes float16; a blocked node (op-block-list, node-block-list,
/// or any op outside the default domain, which is left alone and noted) keeps float32. Each node input receives
/// the type its node wants through one shared Cast per value and type; inputs whose type constraint is float32
/// only (Resize roi/scales, Upsample scales) stay float32. A constant is stored as float16 when at least one
/// reader wants float16 (shared weights stay one tensor, also across If/Loop bodies); values beyond ±65504
/// saturate (noted). Typed attributes follow: Cast <c>to</c>, the generators' <c>dtype</c>, ConstantOfShape's
/// <c>value</c>. keep-io-types: main-graph inputs and outputs keep their names and float32 types (Casts at the
/// edges); false: they are declared float16. If/Loop/Scan bodies return float16, so their nodes are never blocked
/// by name. The opset is not changed: Cast and float16 exist in every opset.
/// </remarks>
public sealed class ConvertToFloat16 : GraphPass
{
    public override PassDescriptor Descriptor { get; } = new(
        "convert-fp16", PassKind.Quantization,
        "Converts weights and compute to float16 (half the size; fast where the runtime has float16 kernels), with Casts at the edges and around blocked ops.",
        [
            ParameterSpec.Bool("keep-io-types", true, "Keep graph inputs and outputs float32 (Casts at the edges); false: declare them float16."),
            ParameterSpec.StringList("op-block-list", "Op types left in float32 (Casts around them). The default lists ops float16 cannot run or runs inaccurately.",
                Float16OpTables.DefaultBlockList),
            ParameterSpec.StringList("node-block-list", "Names of nodes left in float32."),
        ],
        "- convert-fp16: { keep-io-types: true, node-block-list: [head/Softmax] }");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        var blockedOps = arguments.GetStringList("op-block-list").ToHashSet(StringComparer.Ordinal);
        var blockedNodes = arguments.GetStringList("node-block-list").ToHashSet(StringComparer.Ordinal);
        foreach (var controlFlow in new[] { "If", "Loop", "Scan" })
            if (blockedOps.Remove(controlFlow)) result.Note($"op-block-list: {controlFlow} follows its bodies and cannot be blocked; block the ops inside it instead");
        var graphs = main.SelfAndDescendants().ToList();
        var names = graphs.SelectMany(g => g.Nodes).Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var missing in blockedNodes.Where(n => !names.Contains(n)).Order(StringComparer.Ordinal))
            result.Note($"node-block-list: no node is named '{missing}'");

        var rewriter = new Float16Rewriter(blockedOps, blockedNodes, arguments.GetBool("keep-io-types"), result);
        rewriter.Prime(main);
        result.RecordMatch();
        foreach (var graph in graphs) rewriter.Convert(graph);
        if (rewriter.NodesConverted == 0 && rewriter.ConstantsConverted == 0)
        {
            result.Skip("no float32 value or weight to convert");
            return;
        }
        result.RecordRewrite();
        result.Note($"{rewriter.NodesConverted} nodes and {rewriter.ConstantsConverted} constants to float16, {rewriter.CastsInserted} Casts inserted");
        var blocked = graphs.SelectMany(g => g.Nodes).Where(n => !rewriter.IsConverted(n) && !n.Is("Cast") && !n.Is("Constant"))
            .GroupBy(n => n.OpType, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key} ×{g.Count()}").ToList();
        if (blocked.Count > 0) result.Note($"left in float32: {string.Join(", ", blocked)}");
    }
}
