using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Cleanup;

/// <summary>
/// Removes what cannot affect the outputs: nodes none of whose outputs is read (at any depth) or is a graph
/// output, initializers nobody reads, and value_info entries for names that no longer exist.
/// </summary>
/// <remarks>
/// Nodes are visited from the last to the first, so a chain of dead nodes goes in one sweep. Graph inputs and
/// outputs are never touched; from IR 4 on, an initializer that is also a graph input stays (callers may feed it).
/// Opset imports and local functions are left as they are.
/// </remarks>
public sealed class EliminateDead : GraphPass
{
    public override PassDescriptor Descriptor { get; } = new(
        "eliminate-dead", PassKind.Cleanup,
        "Removes nodes whose outputs reach no graph output, unused initializers and stale value_info.");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        // Inner graphs first: a dead node in a branch may be the last reader of an outer value.
        foreach (var graph in main.SelfAndDescendants().Reverse().ToList())
        {
            for (int i = graph.Nodes.Count - 1; i >= 0; i--)
            {
                if (i >= graph.Nodes.Count) continue;
                var node = graph.Nodes[i];
                if (node.Outputs.Count == 0 || !IsDead(graph, node)) continue;
                result.RecordMatch();
                graph.RemoveNode(node);
                result.RecordRewrite();
            }
            foreach (var tensor in graph.Initializers.ToArray())
            {
                if (Weights.RemoveIfUnused(graph, tensor.Name))
                {
                    result.RecordMatch();
                    result.RecordRewrite();
                }
            }
            for (int i = graph.Proto.ValueInfo.Count - 1; i >= 0; i--)
            {
                if (!graph.DefinesLocally(graph.Proto.ValueInfo[i].Name)) graph.Proto.ValueInfo.RemoveAt(i);
            }
        }
    }

    private static bool IsDead(Graph graph, Node node)
    {
        foreach (var output in node.Outputs)
            if (output.Length > 0 && (graph.UseCount(output) > 0 || graph.MustKeepName(output))) return false;
        return true;
    }
}
