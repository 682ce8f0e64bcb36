using CompressTasks.Diagnostics;
using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Cleanup;

/// <summary>
/// Removes nodes that pass their input through unchanged: Identity, and Dropout in inference mode.
/// </summary>
/// <remarks>
/// <code>
///   a ─Identity─▶ b ─▶ readers      ⇒      a ─▶ readers
/// </code>
/// Readers of b are rewired to a. When b is a graph output its name must survive, so instead a's producer is
/// renamed to produce b (only if a is a node output read by nothing else and is not itself a graph output).
/// Dropout counts only in inference mode (no training_mode input, or a constant false one) with its mask unused.
/// </remarks>
public sealed class EliminateIdentity : PatternPass<Node>
{
    public override PassDescriptor Descriptor { get; } = new(
        "eliminate-identity", PassKind.Cleanup,
        "Removes Identity and inference-mode Dropout nodes, keeping graph output names intact.");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Identity", "Dropout" };

    protected override Node? Match(Node node, PassArguments arguments, PassResult result)
    {
        if (node.Inputs.Count < 1 || node.Inputs[0].Length == 0 || node.Outputs.Count < 1) return null;
        var graph = node.Graph!;
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

    protected override bool Rewrite(Graph graph, Node node, PassArguments arguments, PassResult result)
    {
        string input = node.Inputs[0], output = node.Outputs[0];
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
