using CompressTasks.Diagnostics;

namespace CompressTasks.Graphs;

/// <summary>
/// Structural checks of a graph and all its subgraphs: dangling inputs, cycles, duplicate producers and graph
/// outputs that nothing defines. Cheap enough to run after every pass. Empty names (omitted optional inputs and
/// outputs) are legal.
/// </summary>
public static class GraphValidator
{
    /// <summary>Every problem in <paramref name="graph"/> and its subgraphs at any depth; empty when the graph is sound.</summary>
    public static List<GraphProblem> Validate(Graph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var problems = new List<GraphProblem>();
        foreach (var g in graph.SelfAndDescendants()) ValidateOne(g, problems);
        return problems;
    }

    /// <summary>Throws CT0201 listing every problem when <see cref="Validate"/> finds any.</summary>
    public static void ThrowIfInvalid(Graph graph)
    {
        var problems = Validate(graph);
        if (problems.Count == 0) return;
        throw new CompressTasksException(DiagnosticCodes.GraphInvalid,
            $"the graph is invalid ({problems.Count} problem{(problems.Count == 1 ? "" : "s")}):\n  " + string.Join("\n  ", problems),
            graph.Model.SourcePath);
    }

    private static void ValidateOne(Graph g, List<GraphProblem> problems)
    {
        var path = g.Path;
        // Names defined by graph inputs and initializers, then by nodes: a second definition is a duplicate.
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var v in g.Inputs) defined.Add(v.Name);
        // An initializer may also be listed as an input (required before IR 4, an overridable default after).
        foreach (var t in g.Initializers) defined.Add(t.Name);
        foreach (var s in g.Proto.SparseInitializer) if (s.Values is { } values) defined.Add(values.Name);
        foreach (var node in g.Nodes)
            foreach (var o in node.Outputs)
                if (o.Length > 0 && !defined.Add(o))
                {
                    var what = g.GetInitializer(o) is not null ? "an initializer" : g.IsGraphInput(o) ? "a graph input" : "produced by another node";
                    problems.Add(new(GraphProblemKind.DuplicateProducer, path, $"{node} produces '{o}', which is also {what}"));
                }

        foreach (var node in g.Nodes)
            for (int i = 0; i < node.Inputs.Count; i++)
            {
                var name = node.Inputs[i];
                if (name.Length > 0 && !defined.Contains(name) && g.Parent?.Resolve(name) is null)
                    problems.Add(new(GraphProblemKind.DanglingInput, path, $"{node} input {i} reads '{name}', which nothing defines"));
            }

        foreach (var o in g.Outputs)
            if (!defined.Contains(o.Name) && g.Parent?.Resolve(o.Name) is null)
                problems.Add(new(GraphProblemKind.OutputNotProduced, path, $"graph output '{o.Name}' is not produced"));

        if (!g.TryGetTopologicalOrder(out _, out var stuck))
            problems.Add(new(GraphProblemKind.Cycle, path, $"cycle through {Graph.Describe(stuck)}"));
    }
}
