namespace CompressTasks.Graphs;

/// <summary>The kinds of structural defect <see cref="GraphValidator"/> finds.</summary>
public enum GraphProblemKind
{
    /// <summary>A node reads a name that nothing defines (no producer, graph input, initializer or outer-scope value).</summary>
    DanglingInput,

    /// <summary>Nodes depend on each other in a cycle.</summary>
    Cycle,

    /// <summary>A name is produced twice, or produced and also an initializer or graph input.</summary>
    DuplicateProducer,

    /// <summary>A graph output that nothing defines.</summary>
    OutputNotProduced,
}

/// <summary>One defect found by <see cref="GraphValidator"/>.</summary>
/// <param name="Kind">What is wrong.</param>
/// <param name="GraphPath">The graph it is in (<see cref="Graph.Path"/>).</param>
/// <param name="Message">A readable description naming the node and value.</param>
public sealed record GraphProblem(GraphProblemKind Kind, string GraphPath, string Message)
{
    /// <inheritdoc/>
    public override string ToString() => $"{GraphPath}: {Message}";
}
