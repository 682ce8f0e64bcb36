namespace CompressTasks.Graphs;

/// <summary>One use of a value: input <see cref="Index"/> of <see cref="Node"/> (which may sit in a nested subgraph).</summary>
/// <param name="Node">The reading node.</param>
/// <param name="Index">The position in the node's input list.</param>
public readonly record struct NodeInput(Node Node, int Index);
