namespace CompressTasks.Graphs;

// Dead-code removal, the last step of most passes.
public sealed partial class Graph
{
    /// <summary>
    /// Removes nodes none of whose outputs is read (at any depth) or returned, then initializers nobody reads,
    /// repeating until nothing changes, in this graph and every subgraph. Graph inputs stay (they are the
    /// model's interface), and so do initializers that are also graph inputs. Returns how many nodes and
    /// initializers went. ONNX operators have no side effects, so an unread node is dead.
    /// </summary>
    public (int Nodes, int Initializers) Cleanup()
    {
        int nodes = 0, initializers = 0;
        // Children first: a subgraph that stops reading an outer value can make an outer node dead.
        foreach (var s in Subgraphs.ToList())
        {
            var (n, i) = s.Cleanup();
            nodes += n;
            initializers += i;
        }
        var dead = new HashSet<Node>();
        var work = new Stack<Node>(_nodes);
        while (work.TryPop(out var node))
        {
            if (dead.Contains(node) || !IsDead(node, dead)) continue;
            dead.Add(node);
            // Its producers may have lost their last reader.
            foreach (var input in node.Proto.Input)
                if (input.Length > 0 && _producers.TryGetValue(input, out var p) && !dead.Contains(p)) work.Push(p);
            foreach (var input in ImplicitInputs(node))
                if (_producers.TryGetValue(input, out var p) && !dead.Contains(p)) work.Push(p);
        }
        RemoveNodes(dead);
        nodes += dead.Count;
        for (int i = Proto.Initializer.Count - 1; i >= 0; i--)
        {
            var name = Proto.Initializer[i].Name;
            if (UseCount(name) > 0 || MustKeepName(name) || IsGraphInput(name)) continue;
            RemoveInitializer(name);
            initializers++;
        }
        return (nodes, initializers);
    }

    // Dead when every output is unread, or read only by nodes already found dead, and not returned.
    private bool IsDead(Node node, HashSet<Node> dead)
    {
        foreach (var o in node.Proto.Output)
        {
            if (o.Length == 0) continue;
            if (MustKeepName(o)) return false;
            foreach (var use in GetConsumers(o))
                if (!IsInsideDead(use.Node, dead)) return false;
        }
        return true;
    }

    // A read from a nested subgraph is dead when the node owning that subgraph (at this level) is dead.
    private bool IsInsideDead(Node reader, HashSet<Node> dead)
    {
        var n = reader;
        while (n.Graph is { } g && g != this) n = g.OwnerNode!;
        return dead.Contains(n);
    }
}
