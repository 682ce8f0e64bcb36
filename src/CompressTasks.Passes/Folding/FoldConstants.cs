using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Folding;

/// <summary>
/// Evaluates nodes whose inputs are all constants and stores each result as an initializer.
/// </summary>
/// <remarks>
/// <code>
///   c1, c2 (constants) ─Op─▶ y ─▶ readers      ⇒      initializer y' = Op(c1, c2) ─▶ readers
///   x [1,3,224,224] (declared) ─Shape─▶ s       ⇒      initializer s' = [1,3,224,224]
/// </code>
/// Constants are initializers and Constant nodes, here or in an enclosing graph; an initializer that is also a
/// graph input (IR 4 on) can be overridden by the caller and is not one. <c>Shape</c> (and <c>Size</c>) of a
/// computed value fold too when its declared shape has only numeric dims, so shape subgraphs (Shape → Gather →
/// Unsqueeze → Concat → Reshape) collapse. Nodes are visited in order and each fold is visible to the nodes after
/// it; sweeps repeat until nothing folds, so one run reaches the fixed point. Evaluation uses our own kernels
/// (<see cref="ConstantKernels"/>), which follow the opset the model imports. Skipped, with the reason: ops without
/// a kernel, nondeterministic ops (never folded), results over <c>max-elements</c>, and values that are graph
/// outputs (their producer must keep the name). Inputs nobody reads any more are removed.
/// </remarks>
public sealed class FoldConstants : GraphPass
{
    private static readonly HashSet<string> Nondeterministic =
        ["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli", "Dropout"];

    public override PassDescriptor Descriptor { get; } = new(
        "fold-constants", PassKind.Folding,
        "Evaluates nodes whose inputs are all constants (and Shape of statically shaped values) into initializers.",
        [ParameterSpec.Int("max-elements", 1_000_000, "Largest result folded, in elements; bigger ones stay computed at run time so the model does not grow.", minimum: 1)],
        "- fold-constants: { max-elements: 65536 }");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        int maxElements = arguments.GetInt("max-elements");
        foreach (var graph in main.SelfAndDescendants().ToList())
        {
            while (true)
            {
                // Skips are only recorded by the last sweep: an earlier one may skip a node a later fold unblocks.
                var skips = new List<string>();
                int folded = 0;
                foreach (var node in graph.Nodes.ToArray())
                {
                    if (node.Graph != graph) continue;
                    if (TryFold(graph, node, maxElements, out var skip)) folded++;
                    else if (skip is not null) skips.Add(skip);
                }
                for (int i = 0; i < folded; i++) result.RecordMatch();
                result.RecordRewrite(folded);
                if (folded > 0) continue;
                foreach (var s in skips)
                {
                    result.RecordMatch();
                    result.Skip(s);
                }
                break;
            }
        }
    }

    // Folds one node. Returns false with a null skip when the node is not a candidate (a computed input).
    private static bool TryFold(Graph graph, Node node, int maxElements, out string? skip)
    {
        skip = null;
        if (!Graph.IsDefaultDomain(node.Domain) || node.Is("Constant") || node.Subgraphs.Count > 0) return false;
        // Cheap checks first: every input is a constant (or a declared shape for Shape/Size); payloads are read last.
        var constants = new Constant?[node.Inputs.Count];
        var inputs = new FoldedTensor?[node.Inputs.Count];
        for (int i = 0; i < inputs.Length; i++)
        {
            string name = node.Inputs[i];
            if (name.Length == 0) continue;
            if (graph.TryGetConstant(name) is { } constant) constants[i] = constant;
            else if (i == 0 && node.OpType is "Shape" or "Size" && DeclaredDims(graph, name) is { } dims) inputs[i] = FoldedTensor.ShapeOnly(dims);
            else return false;
        }
        if (Nondeterministic.Contains(node.OpType))
        {
            // Dropout is deterministic in inference mode, but eliminate-identity removes it; Random* never fold.
            skip = $"{node}: {node.OpType} is {(node.OpType == "Dropout" ? "left to eliminate-identity" : "nondeterministic")}";
            return false;
        }
        if (node.Outputs.Count != 1 || node.Outputs[0].Length == 0)
        {
            skip = $"{node}: only single-output nodes are folded";
            return false;
        }
        string output = node.Outputs[0];
        if (graph.MustKeepName(output))
        {
            skip = $"{node}: its output is a graph output";
            return false;
        }
        if (!ConstantKernels.Table.TryGetValue(node.OpType, out var kernel))
        {
            skip = $"{node}: no kernel for {node.OpType}";
            return false;
        }
        if (constants.FirstOrDefault(c => c is not null && DataTypes.BitsPerElement(c.DataType) is not (8 or 16 or 32 or 64)) is { } odd)
        {
            skip = $"{node}: {DataTypes.Name(odd.DataType)} inputs are not folded";
            return false;
        }
        try
        {
            for (int i = 0; i < inputs.Length; i++)
                if (constants[i] is { } c) inputs[i] = FoldedTensor.From(c);
        }
        catch (CompressTasksException e)
        {
            skip = $"{node}: {e.Message}";
            return false;
        }
        var context = new KernelContext(node, inputs, node.OpsetVersion ?? 1, maxElements);
        var folded = kernel(context);
        if (folded is null || !context.Fits(folded.Dims, out _))
        {
            skip = $"{node}: {(folded is null ? context.Reason : $"its output would hold {folded.Count:N0} elements (max-elements {maxElements:N0})")}";
            return false;
        }

        var lifted = Weights.Add(graph, output, folded.DataType, folded.Dims, folded.Bytes);
        graph.RemoveNode(node);
        // The new name is fresh in the whole model, so no subgraph can shadow it.
        graph.ReplaceAllUses(output, lifted.Name);
        foreach (var name in node.Inputs.Distinct())
            if (graph.Resolve(name) is { } owner) Weights.RemoveIfUnused(owner, name);
        return true;
    }

    // The declared dims of a value when every one is a number (graph inputs, outputs, value_info), else null.
    private static long[]? DeclaredDims(Graph graph, string name)
    {
        if (graph.GetValue(name).Info?.Type?.TensorType?.Shape is not { } shape) return null;
        var dims = new long[shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            var d = shape.Dim[i];
            if (d.ValueCase != TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue || d.DimValue < 0) return null;
            dims[i] = d.DimValue;
        }
        return dims;
    }
}
