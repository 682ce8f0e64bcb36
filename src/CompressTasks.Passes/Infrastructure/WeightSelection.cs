using System.Text.RegularExpressions;
using CompressTasks.Graphs;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>One reader of a selected weight: the node and the constant it reads at its weight input.</summary>
public sealed record WeightUse(Node Node, Constant Weight);

/// <summary>A selected weight with every node that reads it at its weight input, in graph order.</summary>
public sealed record SelectedWeight(Constant Weight, IReadOnlyList<Node> Readers);

/// <summary>
/// Which weights a weight-rewriting pass (quantization, pruning, clipping) touches. Every such pass declares the
/// same parameters, so recipes narrow them the same way:
/// <code>
///   op-types:     [MatMul, Gemm]     readers considered (default domain)
///   include:      ["encoder.*"]      node or weight name globs (* and ?); empty selects all
///   exclude:      ["*.head*"]        globs left alone; exclude wins over include
///   min-elements: 1024               smaller weights stay as they are
///   keep-first:   true               the first selected layer, in graph order, stays as it is
///   keep-last:    true               likewise the last one (the classifier, usually)
/// </code>
/// A weight is selected once however many readers it has; each filtered-out candidate is a skip with its reason.
/// </summary>
public sealed class WeightSelection
{
    private readonly HashSet<string> _opTypes;
    private readonly Regex[] _include;
    private readonly Regex[] _exclude;
    private readonly int _minElements;
    private readonly bool _keepFirst;
    private readonly bool _keepLast;

    private WeightSelection(HashSet<string> opTypes, Regex[] include, Regex[] exclude, int minElements, bool keepFirst, bool keepLast)
    {
        _opTypes = opTypes;
        _include = include;
        _exclude = exclude;
        _minElements = minElements;
        _keepFirst = keepFirst;
        _keepLast = keepLast;
    }

    /// <summary>
    /// The selection parameters, for a pass that supports <paramref name="opTypes"/>; <paramref name="defaults"/> (all
    /// of them when null) are selected when the recipe names none.
    /// </summary>
    public static IReadOnlyList<ParameterSpec> Parameters(IReadOnlyList<string> opTypes, int minElements, IReadOnlyList<string>? defaults = null) =>
    [
        ParameterSpec.StringList("op-types", $"Op types whose weight is rewritten: {string.Join(", ", opTypes)}"
            + (defaults is null ? "." : $" (default: {string.Join(", ", defaults)})."), defaults ?? opTypes),
        ParameterSpec.StringList("include", "Node or weight name globs (* and ?) to rewrite; empty: every candidate."),
        ParameterSpec.StringList("exclude", "Node or weight name globs to leave alone; wins over include."),
        ParameterSpec.Int("min-elements", minElements, "Smallest weight (in elements) worth rewriting; smaller ones stay as they are.", minimum: 1),
        ParameterSpec.Bool("keep-first", false, "Leave the first selected layer (in graph order) as it is."),
        ParameterSpec.Bool("keep-last", false, "Leave the last selected layer (in graph order) as it is, e.g. the classifier."),
    ];

    /// <summary>
    /// The selection parameters without <c>op-types</c>, for a pass whose readers are fixed (quantize-embeddings reads
    /// only Gather tables): a list with one valid value would be a parameter nobody can use.
    /// </summary>
    public static IReadOnlyList<ParameterSpec> ParametersWithoutOpTypes(int minElements) => [.. Parameters([], minElements).Where(p => p.Name != "op-types")];

    /// <summary>
    /// Reads the parameters declared by <see cref="Parameters"/>; op types outside <paramref name="supported"/> are noted
    /// and ignored. A pass that declares no <c>op-types</c> (<see cref="ParametersWithoutOpTypes"/>) selects exactly
    /// <paramref name="supported"/>.
    /// </summary>
    public static WeightSelection From(PassArguments arguments, IReadOnlyList<string> supported, PassResult result)
    {
        var opTypes = new HashSet<string>(StringComparer.Ordinal);
        var asked = arguments.Pass.FindParameter("op-types") is null ? supported : arguments.GetStringList("op-types");
        foreach (var type in asked)
        {
            if (supported.Contains(type, StringComparer.Ordinal)) opTypes.Add(type);
            else result.Note($"op-types: '{type}' is not supported ({string.Join(", ", supported)}); ignored");
        }
        return new WeightSelection(opTypes,
            [.. arguments.GetStringList("include").Select(Glob)],
            [.. arguments.GetStringList("exclude").Select(Glob)],
            arguments.GetInt("min-elements"), arguments.GetBool("keep-first"), arguments.GetBool("keep-last"));
    }

    /// <summary>
    /// The readers of selected weights, in graph order (the main graph first, then subgraphs depth first).
    /// <paramref name="weightInput"/> says which input of a node is its weight (usually 1). The returned list holds
    /// every reader of a selected weight, so callers can see all axes/layouts a weight is read with.
    /// </summary>
    public IReadOnlyList<WeightUse> Select(Graph main, PassResult result, Func<Node, int> weightInput) =>
        [.. SelectWeights(main, result, weightInput).SelectMany(w => w.Readers.Select(r => new WeightUse(r, w.Weight)))];

    /// <summary>The selected weights, each once with all its readers, in graph order (see <see cref="Select"/>).</summary>
    public IReadOnlyList<SelectedWeight> SelectWeights(Graph main, PassResult result, Func<Node, int> weightInput)
    {
        var selected = new List<SelectedWeight>();
        var order = new List<(Graph, string)>();
        var byWeight = new Dictionary<(Graph, string), List<WeightUse>>();
        foreach (var graph in main.SelfAndDescendants())
        {
            foreach (var node in graph.Nodes)
            {
                if (!Graph.IsDefaultDomain(node.Domain) || !_opTypes.Contains(node.OpType)) continue;
                int input = weightInput(node);
                if (input < 0 || input >= node.Inputs.Count || node.Inputs[input].Length == 0) continue;
                string name = node.Inputs[input];
                var constant = graph.TryGetConstant(name);
                if (constant is null)
                {
                    if (graph.Resolve(name)?.GetInitializer(name) is not null)
                        result.Skip($"'{name}' of {node} is also a graph input, a default callers may override");
                    continue;
                }
                var key = (constant.Graph, name);
                if (!byWeight.TryGetValue(key, out var readers))
                {
                    byWeight[key] = readers = [];
                    order.Add(key);
                }
                readers.Add(new WeightUse(node, constant));
            }
        }

        var kept = new List<List<WeightUse>>();
        foreach (var key in order)
        {
            var readers = byWeight[key];
            if (Reject(readers, readers[0].Weight) is { } reason) result.Skip(reason);
            else kept.Add(readers);
        }
        for (int i = 0; i < kept.Count; i++)
        {
            string name = kept[i][0].Weight.Name;
            if (_keepFirst && i == 0) result.Skip($"'{name}' is the first selected layer (keep-first)");
            else if (_keepLast && i == kept.Count - 1) result.Skip($"'{name}' is the last selected layer (keep-last)");
            else selected.Add(new SelectedWeight(kept[i][0].Weight, [.. kept[i].Select(u => u.Node)]));
        }
        return selected;
    }

    private string? Reject(List<WeightUse> readers, Constant weight)
    {
        bool Matches(Regex[] globs) => globs.Any(g => g.IsMatch(weight.Name) || readers.Any(r => g.IsMatch(r.Node.Name)));
        if (_include.Length > 0 && !Matches(_include)) return $"'{weight.Name}' matches no include pattern";
        if (Matches(_exclude)) return $"'{weight.Name}' matches an exclude pattern";
        if (weight.ElementCount < _minElements) return $"'{weight.Name}' has {weight.ElementCount} elements, fewer than min-elements {_minElements}";
        return null;
    }

    /// <summary>A whole-name glob: <c>*</c> any run of characters, <c>?</c> one character, everything else literal.</summary>
    public static Regex Glob(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace(@"\*", ".*", StringComparison.Ordinal).Replace(@"\?", ".", StringComparison.Ordinal) + "$",
            RegexOptions.CultureInvariant | RegexOptions.Singleline);
}
