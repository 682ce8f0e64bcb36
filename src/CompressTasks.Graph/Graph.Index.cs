namespace CompressTasks.Graphs;

// Index maintenance: every edit of node inputs and outputs goes through these, so the indexes cannot go stale.
public sealed partial class Graph
{
    internal void AddUse(string name, Node node, int index)
    {
        if (name.Length == 0) return;
        if (!_uses.TryGetValue(name, out var list)) _uses[name] = list = new List<NodeInput>(2);
        list.Add(new NodeInput(node, index));
        _scope.Take(name);
    }

    internal void RemoveUse(string name, Node node, int index)
    {
        if (name.Length == 0 || !_uses.TryGetValue(name, out var list)) return;
        // From the end: edits usually touch recently added readers, and a reference test beats record equality.
        for (int at = list.Count - 1; at >= 0; at--)
        {
            var use = list[at];
            if (use.Node != node || use.Index != index) continue;
            list.RemoveAt(at);
            break;
        }
        if (list.Count == 0) _uses.Remove(name);
    }

    internal void AddProducer(string name, Node node)
    {
        if (name.Length == 0) return;
        if (!_producers.TryAdd(name, node)) _duplicateProducers++;
        _scope.Take(name);
    }

    internal void RemoveProducer(string name, Node node)
    {
        if (name.Length == 0 || !_producers.TryGetValue(name, out var p)) return;
        if (p != node)
        {
            // The node was a second producer of the name: the index never pointed at it.
            if (_duplicateProducers > 0) _duplicateProducers--;
            return;
        }
        _producers.Remove(name);
        if (_duplicateProducers == 0) return;
        // A duplicate producer may still define the name: find it so the index stays truthful.
        foreach (var other in _nodes)
            if (other != node && IndexOf(other.Proto.Output, name) >= 0)
            {
                _producers[name] = other;
                _duplicateProducers--;
                break;
            }
    }

    // Indexes a node's inputs, outputs and subgraphs (opening them the first time).
    private void Register(Node node)
    {
        node.Graph = this;
        _scope.Take(node.Name);
        var p = node.Proto;
        for (int i = 0; i < p.Input.Count; i++) AddUse(p.Input[i], node, i);
        foreach (var o in p.Output) AddProducer(o, node);
        if (node.SubgraphList.Count == 0)
        {
            foreach (var a in p.Attribute)
            {
                if (a.G is not null) node.SubgraphList.Add(new Graph(_scope, a.G, this, node, a.Name));
                for (int i = 0; i < a.Graphs.Count; i++) node.SubgraphList.Add(new Graph(_scope, a.Graphs[i], this, node, $"{a.Name}[{i}]"));
            }
        }
        if (node.SubgraphList.Count > 0) _owners.Add(node);
    }

    private void Unregister(Node node, HashSet<Node>? batch = null)
    {
        var p = node.Proto;
        for (int i = 0; i < p.Input.Count; i++)
        {
            // In a batch removal, a value read by many removed nodes is filtered once instead of once per reader.
            if (batch is null) RemoveUse(p.Input[i], node, i);
            else if (_uses.TryGetValue(p.Input[i], out var list))
            {
                list.RemoveAll(u => batch.Contains(u.Node));
                if (list.Count == 0) _uses.Remove(p.Input[i]);
            }
        }
        foreach (var o in p.Output) RemoveProducer(o, node);
        if (node.SubgraphList.Count > 0) _owners.Remove(node);
        node.Graph = null;
    }
}
