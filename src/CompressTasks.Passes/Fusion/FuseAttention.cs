using System.Globalization;
using System.Runtime.InteropServices;
using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Fusion;

/// <summary>
/// Replaces BERT's self-attention block, as PyTorch exports it, by ONNX Runtime's com.microsoft Attention, for models
/// run only by ONNX Runtime.
/// </summary>
/// <remarks>
/// <code>
///   X[B,S,Hin] ─MatMul(Wq)─Add(bq)─Reshape[B,S,N,D]─Transpose(0,2,1,3)──────▶ q ─┐
///   X ─────────MatMul(Wk)─Add(bk)─Reshape[B,S,N,D]─Transpose(0,2,3,1)──────▶ kᵀ ─MatMul─Div(√D)─Add(bias)─Softmax(−1)─┐
///   X ─────────MatMul(Wv)─Add(bv)─Reshape[B,S,N,D]─Transpose(0,2,1,3)──────▶ v ───────────────────────────── MatMul ◀─┘
///        ─Transpose(0,2,1,3)─Reshape[B,S,H]─▶ Y          bias = Mul(Sub(1, Cast&lt;float&gt;(Unsqueeze(mask)[B,1,1,S])), c)
///                        ⇒      Y = com.microsoft.Attention(X, [Wq|Wk|Wv], [bq|bk|bv], Cast&lt;int32&gt;(mask); num_heads = N, mask_filter_value = c)
/// </code>
/// Attention adds 0 where mask &gt; 0 and c where it is 0, exactly what (1 − m)·c adds for a 0/1 mask; other mask values
/// (which no tokenizer writes) are read as "attend". The mask Add is optional (then there is no mask_index); the
/// scale may be Div(√D) or Mul(1/√D) and must equal ORT's default 1/√D (within 1e-5 relative). Preconditions, each
/// failure a skip with its reason: <c>domain: com.microsoft</c> is asked for; the three MatMuls read the same X of
/// rank 3 (float); Wq, Wk, Wv are float constants [Hin, H] read nowhere else (a shared weight would have to be copied);
/// biases are 1-D float constants [H] (copied into the joint bias, so sharing them is fine); every Reshape has a
/// constant shape whose batch and sequence entries are 0, −1 or the input's own dim, and N·D = H; Softmax is over the
/// last axis; every intermediate is read only inside the pattern and none is a graph output; the mask [Bm, Sm] is an
/// integer or bool value whose dims are not provably different from X's [B, S] (ORT's 2-D mask_index must be [B, S]:
/// a mask the original would broadcast from a static 1 is refused). Y keeps its name; mask nodes left without readers
/// are removed; the Cast to int32 is shared by every Attention that reads the same mask.
/// </remarks>
public sealed class FuseAttention : PatternPass<FuseAttention.Found>
{
    /// <summary>One of the Q, K, V branches: MatMul(X, W) [+ bias] → Reshape → Transpose.</summary>
    public sealed record Branch(Node[] Nodes, string X, string Weight, string? Bias, long[] Shape);

    public sealed record Found(Branch Q, Branch K, Branch V, Node[] Core, Node Output, string? Mask, float MaskFilter, Node[] MaskNodes, int Heads, long InputHidden, long Hidden);

    public override PassDescriptor Descriptor { get; } = new(
        "fuse-attention", PassKind.Fusion,
        "Replaces BERT self-attention (Q/K/V MatMuls, scaled softmax with the attention mask, context MatMul) by ONNX Runtime's com.microsoft Attention (only when asked: domain: com.microsoft).",
        [ContribDomain.Parameter()],
        "- fuse-attention: { domain: com.microsoft }");

    protected override IReadOnlySet<string> TargetOpTypes { get; } = new HashSet<string> { "Softmax" };

    protected override Found? Match(Node softmax, PassArguments arguments, PassResult result)
    {
        var graph = softmax.Graph!;
        // The cheap shape of the core: [mask Add] → Softmax → MatMul(·, v) → Transpose → Reshape, scores scaled.
        if (SingleReader(graph, softmax.Outputs[0]) is not { } context || !context.Is("MatMul") || context.Inputs[0] != softmax.Outputs[0]) return null;
        if (SingleReader(graph, context.Outputs[0]) is not { } back || !IsTranspose(back, 0, 2, 1, 3)) return null;
        if (SingleReader(graph, back.Outputs[0]) is not { } output || !output.Is("Reshape") || output.Inputs.Count != 2) return null;
        Node? maskAdd = null;
        string? bias = null;
        var scaled = Scaled(graph, softmax.Inputs[0]);
        if (scaled is null && graph.GetProducer(softmax.Inputs[0]) is { } add && add.Is("Add") && add.Inputs.Count == 2)
        {
            int s = Scaled(graph, add.Inputs[0]) is not null ? 0 : 1;
            (maskAdd, bias, scaled) = (add, add.Inputs[1 - s], Scaled(graph, add.Inputs[s]));
        }
        if (scaled is not { } found) return null;
        var (scale, scores, qk) = found;

        string where = $"{softmax} (attention)";
        if (!ContribDomain.IsAsked(arguments)) return Skip(result, ContribDomain.NotAsked(where, "Attention"));
        long axis = softmax.GetInt("axis", (graph.GetOpsetVersion("") ?? 1) >= 13 ? -1 : 1);
        if (axis is not (-1 or 3)) return Skip(result, $"{where}: Softmax is not over the last axis");
        Node[] core = maskAdd is null ? [scores, scale, softmax, context, back] : [scores, scale, maskAdd, softmax, context, back];
        foreach (var n in core)
            if (graph.MustKeepName(n.Outputs[0]) || graph.UseCount(n.Outputs[0]) != 1)
                return Skip(result, $"{where}: '{n.Outputs[0]}' is read outside the pattern or is a graph output");

        if (Project(graph, scores.Inputs[0], [0, 2, 1, 3]) is not { } q || Project(graph, scores.Inputs[1], [0, 2, 3, 1]) is not { } k
            || Project(graph, context.Inputs[1], [0, 2, 1, 3]) is not { } v)
            return Skip(result, $"{where}: Q, K and V are not each MatMul(X, W) [+ bias] → Reshape → Transpose, read only there");
        if (q.X != k.X || q.X != v.X) return Skip(result, $"{where}: Q, K and V project different inputs");
        if (SymbolicShapes.Of(graph, q.X) is not { Length: 3 } x || StaticShapes.ElementType(graph, q.X) is not (null or 1))
            return Skip(result, $"{where}: '{q.X}' is not a float tensor of rank 3");

        long inputHidden = -1, hidden = -1;
        foreach (var b in new[] { q, k, v })
        {
            if (graph.TryGetConstant(b.Weight) is not { DataType: 1, Dims.Count: 2 } w) return Skip(result, $"{where}: weight '{b.Weight}' is not a 2-D float constant");
            if (inputHidden < 0) (inputHidden, hidden) = (w.Dims[0], w.Dims[1]);
            if (w.Dims[0] != inputHidden || w.Dims[1] != hidden || x[2] != inputHidden.ToString(CultureInfo.InvariantCulture))
                return Skip(result, $"{where}: the Q, K, V weights are not all [{x[2]}, H] of one H");
            if (w.UseCount != 1) return Skip(result, $"{where}: weight '{b.Weight}' is shared with other readers (fusing would copy it)");
            if (b.Bias is not null && (graph.TryGetConstant(b.Bias) is not { DataType: 1, Dims.Count: 1 } c || c.Dims[0] != hidden))
                return Skip(result, $"{where}: bias '{b.Bias}' is not a 1-D float constant of size {hidden}");
        }
        long heads = q.Shape[2], size = q.Shape[3];
        foreach (var b in new[] { q, k, v })
            if (b.Shape[2] != heads || b.Shape[3] != size || heads * size != hidden || !LeadingDims(b.Shape, x))
                return Skip(result, $"{where}: the head Reshapes are not all [B, S, N, D] with one N·D = H = {hidden}");
        if (StaticShapes.ConstantInts(graph, output.Inputs[1]) is not { Length: 3 } merged || merged[2] != hidden || !LeadingDims(merged, x) || output.GetInt("allowzero", 0) != 0)
            return Skip(result, $"{where}: the output Reshape is not [B, S, {hidden}]");
        string scaleConstant = scale.Inputs[1 - qk];
        double want = scale.Is("Div") ? Math.Sqrt(size) : 1 / Math.Sqrt(size);
        if (graph.TryGetConstant(scaleConstant) is not { DataType: 1, ElementCount: 1 } sc || Math.Abs(sc.AsFloat()[0] - want) > 1e-5 * want)
            return Skip(result, $"{where}: the scores are not scaled by 1/√{size} (ORT's default scale)");

        var mask = bias is null ? null : MatchMask(graph, bias, x);
        if (bias is not null && mask is null)
            return Skip(result, $"{where}: the mask '{bias}' is not (1 − Cast<float>(Unsqueeze(mask[B, S]) → [B,1,1,S]))·c of an integer mask of X's batch and sequence");
        return new Found(q, k, v, core, output, mask?.Mask, mask?.Filter ?? 0, mask?.Nodes ?? [], (int)heads, inputHidden, hidden);
    }

    protected override bool Rewrite(Graph graph, Found m, PassArguments arguments, PassResult result)
    {
        ContribDomain.Import(graph);
        // weights[r, :] = [Wq[r, :] | Wk[r, :] | Wv[r, :]], bias = [bq | bk | bv] (zeros for a branch without one).
        var branches = new[] { m.Q, m.K, m.V };
        long h = m.Hidden;
        var weights = new float[m.InputHidden * 3 * h];
        var bias = new float[3 * h];
        for (int i = 0; i < 3; i++)
        {
            var w = graph.GetConstant(branches[i].Weight).AsFloat();
            for (long r = 0; r < m.InputHidden; r++)
                w.Slice((int)(r * h), (int)h).CopyTo(weights.AsSpan((int)(r * 3 * h + i * h), (int)h));
            if (branches[i].Bias is { } b) graph.GetConstant(b).AsFloat().CopyTo(bias.AsSpan((int)(i * h), (int)h));
        }
        var joinedWeights = Weights.Add(graph, m.Q.Weight + "_qkv", 1, [m.InputHidden, 3 * h], MemoryMarshal.AsBytes(weights.AsSpan()).ToArray());
        var joinedBias = Weights.Add(graph, (m.Q.Bias ?? m.Q.Weight) + "_qkv_bias", 1, [3 * h], MemoryMarshal.AsBytes(bias.AsSpan()).ToArray());
        var inputs = new List<string> { m.Q.X, joinedWeights.Name, joinedBias.Name };
        if (m.Mask is not null) inputs.Add(MaskAsInt32(graph, m.Mask, m.Output));

        // At the output Reshape's place: X, the weights and the int32 mask are defined before it, every reader of Y after.
        var node = graph.CreateNode("Attention", inputs, [m.Output.Outputs[0]], before: m.Output, domain: ContribDomain.Name);
        node.Proto.Attribute.Add(new AttributeProto { Name = "num_heads", Type = AttributeProto.Types.AttributeType.Int, I = m.Heads });
        if (m.Mask is not null)
            node.Proto.Attribute.Add(new AttributeProto { Name = "mask_filter_value", Type = AttributeProto.Types.AttributeType.Float, F = m.MaskFilter });
        var doomed = branches.SelectMany(b => b.Nodes).Concat(m.Core).Append(m.Output).ToList();
        var operands = doomed.SelectMany(n => n.Inputs).Distinct().Where(i => graph.TryGetConstant(i) is not null).ToList();
        graph.RemoveNodes(doomed);
        // The mask chain is shared by every layer: it goes once its last reader has.
        foreach (var n in m.MaskNodes)
            if (n.Graph == graph && !graph.MustKeepName(n.Outputs[0]) && graph.UseCount(n.Outputs[0]) == 0)
            {
                operands.AddRange(n.Inputs.Where(i => graph.TryGetConstant(i) is not null));
                graph.RemoveNode(n);
            }
        foreach (var name in operands.Distinct()) Weights.RemoveIfUnused(graph, name);
        return true;
    }

    // Div(MatMul(q, kᵀ), constant) or Mul(·, constant) in either order: the scaling node, the scores and which input they are.
    private static (Node Scale, Node Scores, int Index)? Scaled(Graph graph, string name)
    {
        if (graph.GetProducer(name) is not { } scale || !scale.Is("Div") && !scale.Is("Mul") || scale.Inputs.Count != 2) return null;
        int i = scale.Is("Mul") && graph.TryGetConstant(scale.Inputs[0]) is not null ? 1 : 0;
        return graph.GetProducer(scale.Inputs[i]) is { } scores && scores.Is("MatMul") ? (scale, scores, i) : null;
    }

    // MatMul(X, W) [→ Add(bias)] → Reshape(constant [·, ·, N, D]) → Transpose(perm), each output read only by the next.
    private static Branch? Project(Graph graph, string name, long[] perm)
    {
        if (graph.GetProducer(name) is not { } transpose || !IsTranspose(transpose, perm) || graph.UseCount(name) != 1 || graph.MustKeepName(name)) return null;
        if (graph.GetProducer(transpose.Inputs[0]) is not { } reshape || !reshape.Is("Reshape") || reshape.Inputs.Count != 2 || reshape.GetInt("allowzero", 0) != 0
            || StaticShapes.ConstantInts(graph, reshape.Inputs[1]) is not { Length: 4 } shape || !OnlyReader(graph, reshape.Outputs[0], transpose)) return null;
        if (graph.GetProducer(reshape.Inputs[0]) is not { } producer || !OnlyReader(graph, producer.Outputs[0], reshape)) return null;
        Node? add = null;
        string? bias = null;
        if (producer.Is("Add") && producer.Inputs.Count == 2)
        {
            int b = graph.TryGetConstant(producer.Inputs[0]) is not null ? 0 : 1;
            (add, bias) = (producer, producer.Inputs[b]);
            producer = graph.GetProducer(producer.Inputs[1 - b]);
            if (producer is null || !OnlyReader(graph, producer.Outputs[0], add)) return null;
        }
        if (!producer.Is("MatMul")) return null;
        Node[] nodes = add is null ? [producer, reshape, transpose] : [producer, add, reshape, transpose];
        return new Branch(nodes, producer.Inputs[0], producer.Inputs[1], bias, shape);
    }

    // Mul(Sub(1, Cast<float>(u)), c) where u = Unsqueeze(…Unsqueeze(mask)) has dims [B, 1, 1, S] for mask [B, S].
    private static (string Mask, float Filter, Node[] Nodes)? MatchMask(Graph graph, string bias, string[] x)
    {
        if (graph.GetProducer(bias) is not { } mul || !mul.Is("Mul") || mul.Inputs.Count != 2) return null;
        int c = graph.TryGetConstant(mul.Inputs[0]) is { DataType: 1, ElementCount: 1 } ? 0 : 1;
        if (graph.TryGetConstant(mul.Inputs[c]) is not { DataType: 1, ElementCount: 1 } filter || !(filter.AsFloat()[0] < 0)) return null;
        if (graph.GetProducer(mul.Inputs[1 - c]) is not { } sub || !sub.Is("Sub") || sub.Inputs.Count != 2
            || graph.TryGetConstant(sub.Inputs[0]) is not { DataType: 1, ElementCount: 1 } one || one.AsFloat()[0] != 1) return null;
        if (graph.GetProducer(sub.Inputs[1]) is not { } cast || !cast.Is("Cast") || cast.GetInt("to", 0) != 1) return null;
        var nodes = new List<Node> { mul, sub, cast };
        string mask = cast.Inputs[0];
        while (graph.GetProducer(mask) is { } u && u.Is("Unsqueeze") && nodes.Count < 5)
        {
            nodes.Add(u);
            mask = u.Inputs[0];
        }
        if (nodes.Count == 3 || SymbolicShapes.Of(graph, mask) is not { Length: 2 } dims
            || SymbolicShapes.Of(graph, cast.Outputs[0]) is not [var b, "1", "1", var s] || b != dims[0] || s != dims[1]) return null;
        if (StaticShapes.ElementType(graph, mask) is not (6 or 7 or 9) || !Compatible(dims[0], x[0]) || !Compatible(dims[1], x[1])) return null;
        return (mask, filter.AsFloat()[0], [.. nodes]);
    }

    // The int32 mask_index: an earlier Cast of the same mask (one this pass added for another layer), or a new one
    // placed right after the mask is defined.
    private static string MaskAsInt32(Graph graph, string mask, Node before)
    {
        int limit = graph.PositionOf(before);
        foreach (var use in graph.GetConsumers(mask))
            if (use.Node.Graph == graph && use.Node.Is("Cast") && use.Node.GetInt("to", 0) == 6 && graph.PositionOf(use.Node) < limit) return use.Node.Outputs[0];
        var proto = new NodeProto { OpType = "Cast", Name = graph.FreshName("Cast"), Input = { mask }, Output = { graph.FreshName(mask + "_int32") } };
        proto.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = 6 });
        var node = graph.GetProducer(mask) is { } producer && producer.Graph == graph ? graph.InsertAfter(producer, proto) : graph.Insert(0, proto);
        return node.Outputs[0];
    }

    // Reshape entries for batch and sequence: 0 copies the input's dim, one −1 is the only value left (N·D = H), a number must be that dim.
    private static bool LeadingDims(long[] shape, string[] x) =>
        !(shape[0] == -1 && shape[1] == -1) && Copies(shape[0], x[0]) && Copies(shape[1], x[1]);

    private static bool Copies(long entry, string dim) => entry is 0 or -1 || entry.ToString(CultureInfo.InvariantCulture) == dim;

    // Mask and input dims not provably different; a static 1 against anything else is refused (the original broadcasts it).
    private static bool Compatible(string mask, string input) =>
        mask == input || !(mask == "1" || input == "1" || long.TryParse(mask, out _) && long.TryParse(input, out _));

    private static bool IsTranspose(Node node, params long[] perm) => node.Is("Transpose") && node.GetInts("perm") is { } p && p.SequenceEqual(perm);

    private static bool OnlyReader(Graph graph, string name, Node reader) => SingleReader(graph, name) == reader && !graph.MustKeepName(name);
}
