using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Passes.Versioning;

/// <summary>
/// Raises the model's default-domain opset to <c>target-opset</c>, rewriting every node whose op changed in
/// between, so passes that need a newer opset (quantize-weights-int8 per channel: 13) can run on an old model.
/// Only ever run when a recipe asks for it: no other pass changes the opset.
/// </summary>
/// <remarks>
/// <code>
///   opset_import { "" : 8 }   Reshape(x) {shape=[1,-1]}       Upsample(x) {scales=[1,1,2,2]}
///     ⇒
///   opset_import { "" : 13 }  Reshape(x, [1,-1]: int64)       Resize(x, roi=[], scales) {asymmetric, floor}
/// </code>
/// For each version v from the model's opset + 1 to the target, every node (in subgraphs too) whose op changed at
/// v is carried across by the adapter <see cref="OpsetHistory"/> names for that change (attributes that became
/// inputs, renamed ops, legacy attributes dropped, Softmax's 2-D coercion made explicit); changes that only add
/// types or defaults need nothing. Preconditions, checked for every node before anything is edited (all or
/// nothing, each a skip naming the ops): the target is newer than the model's opset and at most
/// <see cref="OpsetHistory.Newest"/>; every default-domain op is in the history table, every change it crosses
/// is covered, and every adapter accepts its node; the model has no local functions. Other domains (ai.onnx.ml,
/// com.microsoft) keep their versions. ir_version is raised only to what the target opset's ONNX release
/// requires (opset 18: IR 8, 19 and 20: IR 9, 21: IR 10; up to 17 every opset is valid at IR 3 and later), and
/// never lowered.
/// </remarks>
public sealed class ConvertOpset : GraphPass
{
    public override PassDescriptor Descriptor { get; } = new(
        "convert-opset", PassKind.Cleanup,
        "Upgrades the default-domain opset to target-opset, rewriting ops whose definition changed; refuses the whole upgrade when an op is not covered.",
        [ParameterSpec.Int("target-opset", 13, "The opset to upgrade to (13 lets per-channel int8 quantization run, 21 int4 DequantizeLinear); models already there are left alone.", minimum: 2, maximum: OpsetHistory.Newest)],
        "- convert-opset: { target-opset: 13 }");

    public override void Run(Graph main, PassArguments arguments, PassResult result)
    {
        int target = arguments.GetInt("target-opset");
        long source = main.GetOpsetVersion("") ?? 0;
        if (source == 0)
        {
            result.Skip("the model imports no default-domain opset");
            return;
        }
        if (source >= target)
        {
            result.Note($"opset {source} is already at or above target {target}; left alone");
            return;
        }
        result.RecordMatch();
        var types = new ElementTypes();
        var graphs = main.SelfAndDescendants().ToList();
        var problems = Check(main, graphs, (int)source, target, types);
        if (problems.Count > 0)
        {
            result.Skip($"opset {source} → {target} refused, nothing changed: {string.Join("; ", problems)}");
            return;
        }

        int rewritten = 0;
        for (int version = (int)source + 1; version <= target; version++)
        {
            foreach (var graph in graphs)
            {
                foreach (var node in graph.Nodes.ToArray())
                {
                    if (!Graph.IsDefaultDomain(node.Domain) || StepAt(node.OpType, version)?.Adapter is not { } adapter) continue;
                    adapter.Apply(node, types);
                    rewritten++;
                }
            }
        }
        SetOpset(main, target);
        result.RecordRewrite();
        long ir = main.Model.Proto.IrVersion, needed = MinimumIr(target);
        if (ir < needed) main.Model.Proto.IrVersion = needed;
        result.Note($"opset {source} → {target}: {rewritten} node rewrites{(ir < needed ? $"; ir_version {ir} → {needed} (opset {target} needs it)" : "")}");
    }

    // Every reason the upgrade cannot be done, grouped by op; empty when it can.
    private static List<string> Check(Graph main, List<Graph> graphs, int source, int target, ElementTypes types)
    {
        var problems = new SortedSet<string>(StringComparer.Ordinal);
        if (main.Model.Proto.Functions.Count > 0) problems.Add("the model has local functions, which are not upgraded");
        foreach (var graph in graphs)
        {
            foreach (var node in graph.Nodes)
            {
                if (!Graph.IsDefaultDomain(node.Domain)) continue;
                string op = node.OpType;
                if (OpsetHistory.Steps(op) is null)
                {
                    problems.Add($"{op}: not a standard op up to opset {OpsetHistory.Newest}");
                    continue;
                }
                for (int version = source + 1; version <= target; version++)
                {
                    if (StepAt(op, version) is not { } step) continue;
                    if (!step.Covered) problems.Add($"{op}: its change at opset {version} is not covered");
                    else if (step.Adapter is { } adapter)
                    {
                        if (adapter.Check(node, types) is { } reason) problems.Add($"{op} at opset {version}: {reason}");
                        if (adapter.RenamesTo is { } renamed) op = renamed;
                    }
                }
            }
        }
        return [.. problems];
    }

    // The IR version of the ONNX release that introduced the opset (from 18 on; older opsets need nothing newer than 3).
    private static long MinimumIr(int opset) => opset switch { >= 21 => 10, >= 19 => 9, >= 18 => 8, _ => 0 };

    private static OpsetHistory.Step? StepAt(string opType, int version)
    {
        if (OpsetHistory.Steps(opType) is not { } steps) return null;
        foreach (var step in steps)
            if (step.Version == version) return step;
        return null;
    }

    private static void SetOpset(Graph main, int target)
    {
        foreach (var import in main.Model.Proto.OpsetImport)
            if (Graph.IsDefaultDomain(import.Domain)) import.Version = target;
    }
}
