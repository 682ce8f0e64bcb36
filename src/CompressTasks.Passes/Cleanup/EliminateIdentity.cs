using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Cleanup;

/// <summary>
/// Removes nodes that pass their input through unchanged: Identity, Dropout in inference mode, and ops that are
/// no-ops here: Cast to the type it already has, Transpose with the identity permutation, Pad with all-zero pads,
/// Slice covering the whole tensor, Concat of one input, Reshape/Expand/Flatten/Squeeze/Unsqueeze whose output
/// shape equals the input shape, and arithmetic with its neutral constant (x + 0, x − 0, x · 1, x / 1).
/// </summary>
/// <remarks>
/// <code>
///   a ─Identity─▶ b ─▶ readers      ⇒      a ─▶ readers
///   a[2,3] ─Reshape([2,-1])─▶ b     ⇒      a      (likewise Cast(to=float) of a float, Transpose(perm=[0,1]), …)
/// </code>
/// Shapes and element types come from <see cref="StaticShapes"/> (declared shapes, constants and forward propagation
/// through common ops); a node is removed only when they prove it a no-op, and silently kept otherwise. A Slice is
/// whole when every sliced axis has step 1, starts at 0 (or at or below −dim) and ends at or past the dim (ends of
/// 2³¹−1 or more count without knowing the dim).
/// The neutral constant must hold only 0 (Add, Sub) or 1 (Mul, Div), be the second operand of Sub/Div, and not
/// broadcast x: a scalar, or all dims 1 and rank at most x's (known from <see cref="Ranks"/>). For floats this
/// drops only the sign of a −0 + 0 sum, as ONNX Runtime's own no-op elimination does.
/// Readers of b are rewired to a. When b is a graph output its name must survive, so instead a's producer is
/// renamed to produce b (only if a is a node output read by nothing else and is not itself a graph output).
/// Dropout counts only in inference mode (no training_mode input, or a constant false one) with its mask unused.
/// </remarks>
public sealed class EliminateIdentity : PatternPass<Node>
{
    public override PassDescriptor Descriptor { get; } = new(
        "eliminate-identity", PassKind.Cleanup,
        "Removes Identity, inference-mode Dropout, no-op Cast/Reshape/Transpose/Pad/Slice/Concat/Expand/Flatten/Squeeze/Unsqueeze nodes and x+0, x·1, keeping graph output names intact.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string>
        { "Identity", "Dropout", "Cast", "Transpose", "Pad", "Slice", "Concat", "Reshape", "Expand", "Flatten", "Squeeze", "Unsqueeze", "Add", "Sub", "Mul", "Div" };

    protected override Node? Match(Node node, PassArguments arguments, PassResult result)
    {
        if (node.Inputs.Count < 1 || node.Inputs[0].Length == 0 || node.Outputs.Count < 1) return null;
        var graph = node.Graph!;
        if (node.OpType is not ("Identity" or "Dropout")) return IsNoOp(graph, node) ? node : null;
        if (node.Is("Dropout"))
        {
            if (node.Outputs.Count > 1 && node.Outputs[1].Length > 0 && (graph.UseCount(node.Outputs[1]) > 0 || graph.MustKeepName(node.Outputs[1])))
            {
                result.Skip($"{node}: its mask output is used");
                return null;
            }
            if (node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
            {
                var training = graph.TryGetConstant(node.Inputs[2]);
                if (training is null || training.ElementCount != 1 || training.AsBool()[0])
                {
                    result.Skip($"{node}: training_mode is not a constant false");
                    return null;
                }
            }
        }
        return node;
    }

    // Whether a shape or type op leaves its first input unchanged, as far as static knowledge proves it.
    private static bool IsNoOp(Graph graph, Node node)
    {
        if (node.Outputs.Count != 1) return false;
        string x = node.Inputs[0];
        switch (node.OpType)
        {
            case "Cast":
                return StaticShapes.ElementType(graph, x) is { } type && type == node.GetInt("to", -1);
            case "Transpose":
                var perm = node.GetInts("perm");
                if (perm is null) return StaticShapes.Of(graph, x) is { Length: <= 1 };
                for (int i = 0; i < perm.Count; i++)
                    if (perm[i] != i) return false;
                return true;
            case "Concat":
                return node.Inputs.Count == 1;
            case "Pad":
                var pads = node.GetInts("pads")?.ToArray() ?? (node.Inputs.Count > 1 ? StaticShapes.ConstantInts(graph, node.Inputs[1]) : null);
                return pads is not null && pads.All(p => p == 0);
            case "Slice":
                return IsWholeSlice(graph, node);
            case "Add" or "Sub" or "Mul" or "Div":
                return PassedThrough(graph, node) >= 0;
            default:
                // Reshape, Expand, Flatten, Squeeze, Unsqueeze: no-ops exactly when the output shape is the input's.
                return StaticShapes.Of(graph, x) is { } input && StaticShapes.Of(graph, node.Outputs[0]) is { } output && input.AsSpan().SequenceEqual(output);
        }
    }

    // Which operand an Add/Sub/Mul/Div with a neutral constant passes through unchanged (0 or 1), or −1.
    private static int PassedThrough(Graph graph, Node node)
    {
        if (node.Inputs.Count != 2 || !Graph.IsDefaultDomain(node.Domain)) return -1;
        float neutral = node.OpType is "Add" or "Sub" ? 0 : 1;
        bool commutative = node.OpType is "Add" or "Mul";
        for (int i = 1; i >= (commutative ? 0 : 1); i--)
        {
            if (graph.TryGetConstant(node.Inputs[i]) is not { } c || c.Dims.Any(d => d != 1)) continue;
            string x = node.Inputs[1 - i];
            if (c.Dims.Count > 0 && (Ranks.Of(graph, x) is not { } rank || rank < c.Dims.Count)) continue;
            // No type check: both operands of Add/Sub/Mul/Div share one element type in a valid model.
            bool isNeutral = c.DataType switch
            {
                1 => !c.AsFloat().ContainsAnyExcept(neutral),
                7 => !c.AsInt64().ContainsAnyExcept((long)neutral),
                _ => false,
            };
            if (isNeutral) return 1 - i;
        }
        return -1;
    }

    private static bool IsWholeSlice(Graph graph, Node node)
    {
        long[]? starts, ends, axes, steps = null;
        if (node.Inputs.Count >= 3)
        {
            starts = StaticShapes.ConstantInts(graph, node.Inputs[1]);
            ends = StaticShapes.ConstantInts(graph, node.Inputs[2]);
            axes = node.Inputs.Count > 3 && node.Inputs[3].Length > 0 ? StaticShapes.ConstantInts(graph, node.Inputs[3]) : null;
            if (node.Inputs.Count > 4 && node.Inputs[4].Length > 0 && (steps = StaticShapes.ConstantInts(graph, node.Inputs[4])) is null) return false;
            if (node.Inputs.Count > 3 && node.Inputs[3].Length > 0 && axes is null) return false;
        }
        else
        {
            starts = node.GetInts("starts")?.ToArray();
            ends = node.GetInts("ends")?.ToArray();
            axes = node.GetInts("axes")?.ToArray();
        }
        if (starts is null || ends is null || starts.Length != ends.Length) return false;
        long[]? shape = null;
        for (int i = 0; i < starts.Length; i++)
        {
            if (steps is not null && steps[i] != 1) return false;
            if (ends[i] >= int.MaxValue && starts[i] == 0) continue;
            shape ??= StaticShapes.Of(graph, node.Inputs[0]);
            if (shape is null) return false;
            long axis = axes is null ? i : axes[i] < 0 ? axes[i] + shape.Length : axes[i];
            if (axis < 0 || axis >= shape.Length) return false;
            long dim = shape[axis];
            bool fromStart = starts[i] == 0 || starts[i] <= -dim;
            bool toEnd = ends[i] >= dim;
            if (!fromStart || !toEnd) return false;
        }
        return true;
    }

    protected override bool Rewrite(Graph graph, Node node, PassArguments arguments, PassResult result)
    {
        string input = node.Inputs[node.OpType is "Add" or "Sub" or "Mul" or "Div" ? PassedThrough(graph, node) : 0], output = node.Outputs[0];
        if (!graph.MustKeepName(output))
        {
            try
            {
                graph.ReplaceAllUses(output, input);
            }
            catch (CompressTasksException e) when (e.Code == DiagnosticCodes.NameShadowed)
            {
                result.Skip($"{node}: {e.Message}");
                return false;
            }
            graph.RemoveNode(node);
            return true;
        }
        // The output name must stay: make the input's producer produce it instead.
        var producer = graph.GetProducer(input);
        if (producer is null || producer.Graph != graph || graph.UseCount(input) != 1 || graph.MustKeepName(input))
        {
            result.Skip($"{node}: its output is a graph output and its input cannot be renamed");
            return false;
        }
        graph.RemoveNode(node);
        for (int i = 0; i < producer.Outputs.Count; i++)
            if (producer.Outputs[i] == input) producer.SetOutput(i, output);
        return true;
    }
}
