using CompressTasks.Diagnostics;

namespace CompressTasks.Graphs;

// Topological order and cycle detection.
public sealed partial class Graph
{
    /// <summary>
    /// Computes a topological order without changing the graph. Stable: among the nodes ready to run, the one
    /// earliest in the current list goes first, so an already valid order comes back unchanged. Reads of outer
    /// names inside a node's subgraphs count as inputs of that node. Returns false when there is a cycle;
    /// <paramref name="order"/> then holds the nodes that could be placed and <paramref name="stuck"/> the rest.
    /// </summary>
    public bool TryGetTopologicalOrder(out List<Node> order, out List<Node> stuck)
    {
        int n = _nodes.Count;
        var position = new Dictionary<Node, int>(n);
        for (int i = 0; i < n; i++) position[_nodes[i]] = i;
        var pending = new int[n];
        var dependents = new List<int>?[n];
        for (int i = 0; i < n; i++)
        {
            var node = _nodes[i];
            // Count distinct producing nodes, not edges, so that a node reading one value twice waits once.
            HashSet<int>? seen = null;
            foreach (var input in node.SubgraphList.Count == 0 ? node.Proto.Input : (IEnumerable<string>)AllInputs(node))
            {
                if (input.Length == 0 || !_producers.TryGetValue(input, out var producer)) continue;
                int p = position[producer];
                seen ??= [];
                if (!seen.Add(p)) continue;
                (dependents[p] ??= []).Add(i);
                pending[i]++;
            }
        }
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < n; i++)
            if (pending[i] == 0) ready.Enqueue(i, i);
        order = new List<Node>(n);
        var placed = new bool[n];
        while (ready.TryDequeue(out int i, out _))
        {
            order.Add(_nodes[i]);
            placed[i] = true;
            if (dependents[i] is not { } ds) continue;
            foreach (int d in ds)
                if (--pending[d] == 0) ready.Enqueue(d, d);
        }
        stuck = [];
        for (int i = 0; i < n; i++)
            if (!placed[i]) stuck.Add(_nodes[i]);
        return stuck.Count == 0;
    }

    /// <summary>
    /// Reorders the node list topologically (see <see cref="TryGetTopologicalOrder"/>) and returns whether
    /// anything moved. Throws CT0201 naming the nodes on or after a cycle. Subgraphs are not reordered.
    /// </summary>
    public bool TopologicalSort()
    {
        if (!TryGetTopologicalOrder(out var order, out var stuck))
            throw new CompressTasksException(DiagnosticCodes.GraphInvalid,
                $"graph {Path} has a cycle through {Describe(stuck)}", Model.SourcePath);
        bool moved = false;
        for (int i = 0; i < order.Count; i++)
        {
            if (_nodes[i] == order[i]) continue;
            moved = true;
            _nodes[i] = order[i];
            Proto.Node[i] = order[i].Proto;
        }
        return moved;
    }

    /// <summary>
    /// The outer-scope names read anywhere inside <paramref name="node"/>'s subgraphs (implicit inputs), without
    /// names the subgraphs define themselves.
    /// </summary>
    public static HashSet<string> ImplicitInputs(Node node)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in node.SubgraphList) s.CollectFreeNames(names);
        return names;
    }

    // Names this graph reads (node inputs at any depth, and its outputs) that it does not define itself.
    private void CollectFreeNames(HashSet<string> names)
    {
        foreach (var name in _uses.Keys)
            if (!DefinesLocally(name)) names.Add(name);
        foreach (var o in Proto.Output)
            if (o.Name.Length > 0 && !DefinesLocally(o.Name)) names.Add(o.Name);
        foreach (var owner in _owners)
        {
            var inner = ImplicitInputs(owner);
            foreach (var name in inner)
                if (!DefinesLocally(name)) names.Add(name);
        }
    }

    private static IEnumerable<string> AllInputs(Node node)
    {
        foreach (var i in node.Proto.Input) yield return i;
        foreach (var i in ImplicitInputs(node)) yield return i;
    }

    internal static string Describe(List<Node> nodes)
    {
        const int Shown = 5;
        var parts = new List<string>(Shown + 1);
        for (int i = 0; i < nodes.Count && i < Shown; i++) parts.Add(nodes[i].ToString());
        if (nodes.Count > Shown) parts.Add($"and {nodes.Count - Shown} more");
        return string.Join(", ", parts);
    }
}
