using CompressTasks.Graphs;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>A named transformation of a model's graphs, as recipes list them.</summary>
public abstract class GraphPass
{
    /// <summary>Name, kind, summary and parameters: what recipes, docs and the JSON Schema see.</summary>
    public abstract PassDescriptor Descriptor { get; }

    /// <summary>Runs the pass over <paramref name="main"/> (and, as the pass decides, its subgraphs).</summary>
    public abstract void Run(Graph main, PassArguments arguments, PassResult result);

    /// <summary>
    /// Runs the pass with a <paramref name="context"/> (teacher and calibration data). Passes that need neither
    /// keep the default, which ignores it.
    /// </summary>
    public virtual void Run(Graph main, PassArguments arguments, PassResult result, PassContext context) => Run(main, arguments, result);
}

/// <summary>
/// A pass that finds a pattern rooted at nodes of some op types and rewrites it, in every graph and subgraph:
/// the cheap test is the op type, <see cref="Match"/> does the full check without side effects, and
/// <see cref="Rewrite"/> edits only what the match names.
/// </summary>
/// <typeparam name="TMatch">What <see cref="Match"/> found, handed to <see cref="Rewrite"/>.</typeparam>
public abstract class PatternPass<TMatch> : GraphPass where TMatch : class
{
    /// <summary>Op types (default domain) a match can start at.</summary>
    protected abstract IReadOnlySet<string> TargetOpTypes { get; }

    /// <summary>Checks the pattern at <paramref name="node"/>; returns null (and may record a skip) when it does not apply.</summary>
    protected abstract TMatch? Match(Node node, PassArguments arguments, PassResult result);

    /// <summary>Applies a match. Returns false (after recording a skip) if a late check fails before anything was edited.</summary>
    protected abstract bool Rewrite(Graph graph, TMatch match, PassArguments arguments, PassResult result);

    /// <summary>Records <paramref name="reason"/> as a skip and returns no match, for <c>return Skip(result, …)</c> in <see cref="Match"/>.</summary>
    protected static TMatch? Skip(PassResult result, string reason)
    {
        result.Skip(reason);
        return null;
    }

    /// <summary>
    /// The one node of <paramref name="graph"/> reading <paramref name="name"/>, or null when the value has several
    /// readers, none, or its one reader is in a subgraph: a pattern may absorb a value only when nothing else sees it.
    /// </summary>
    protected static Node? SingleReader(Graph graph, string name)
    {
        var readers = graph.GetConsumers(name);
        return readers.Count == 1 && readers[0].Node.Graph == graph ? readers[0].Node : null;
    }

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        foreach (var graph in main.SelfAndDescendants().ToList())
        {
            // A snapshot: rewrites remove and insert nodes while we walk.
            foreach (var node in graph.Nodes.ToArray())
            {
                if (node.Graph != graph || !Graph.IsDefaultDomain(node.Domain) || !TargetOpTypes.Contains(node.OpType)) continue;
                var match = Match(node, arguments, result);
                if (match is null) continue;
                result.RecordMatch();
                if (Rewrite(graph, match, arguments, result)) result.RecordRewrite();
            }
        }
    }
}
