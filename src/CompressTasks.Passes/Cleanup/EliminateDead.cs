using CompressTasks.Graphs;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Cleanup;

/// <summary>
/// Removes what cannot affect the outputs: nodes none of whose outputs is read (at any depth) or is a graph
/// output, initializers nobody reads, and value_info entries for names that no longer exist.
/// </summary>
/// <remarks>
/// The work is <see cref="Graph.Cleanup"/>, the one implementation of dead-code removal (passes that leave dead nodes
/// behind call it too), so the rules are stated there once: graph inputs and outputs are never touched; an unread
/// initializer that is also a graph input stays from IR 4 on (callers may feed it) and goes with its input entry
/// before IR 4 (where every initializer had to be listed as an input). Opset imports and local functions are left as
/// they are. Counted per node and per initializer removed.
/// </remarks>
public sealed class EliminateDead : GraphPass
{
    public override PassDescriptor Descriptor { get; } = new(
        "eliminate-dead", PassKind.Cleanup,
        "Removes nodes whose outputs reach no graph output, unused initializers and stale value_info.");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        var (nodes, initializers) = main.Cleanup();
        for (int i = 0; i < nodes + initializers; i++)
        {
            result.RecordMatch();
            result.RecordRewrite();
        }
    }
}
