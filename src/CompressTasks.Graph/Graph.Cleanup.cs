namespace CompressTasks.Graphs;

// Dead-code removal, the last step of most passes.
public sealed partial class Graph
{
    /// <summary>
    /// Removes nodes none of whose outputs is read (at any depth) or returned, then initializers nobody reads, then
    /// value_info entries for names no longer defined, in this graph and every subgraph. Returns how many nodes and
    /// initializers went. ONNX operators have no side effects, so an unread node is dead. This is the one
    /// implementation of dead-code removal: the <c>eliminate-dead</c> pass calls it.
    /// </summary>
    /// <remarks>
    /// Graph inputs are the model's interface and stay. An initializer that is also listed as a graph input is
    /// decided by the IR version: from IR 4 on, the listing is deliberate (an input with a default value the caller
    /// may override), so it stays even when unread; before IR 4 every initializer had to be listed as an input, so
    /// the listing says nothing about the interface (ONNX Runtime does not offer such names as inputs) and an unread
    /// one goes together with its input entry.
    /// </remarks>
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
        bool inputsAreInterface = Model.Proto.IrVersion >= 4;
        for (int i = Proto.Initializer.Count - 1; i >= 0; i--)
        {
            var name = Proto.Initializer[i].Name;
            if (UseCount(name) > 0 || MustKeepName(name)) continue;
            int input = IndexOf(Proto.Input, name);
            if (input >= 0 && inputsAreInterface) continue;
            RemoveInitializer(name);
            if (input >= 0) Proto.Input.RemoveAt(input);
            initializers++;
        }
        for (int i = Proto.ValueInfo.Count - 1; i >= 0; i--)
            if (!DefinesLocally(Proto.ValueInfo[i].Name)) Proto.ValueInfo.RemoveAt(i);
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
