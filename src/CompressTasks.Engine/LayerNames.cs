using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe;

namespace CompressTasks.Engine;

/// <summary>Checks a recipe's <c>layers:</c> patterns against the model, so a typo is an error rather than a silent no-op.</summary>
internal static class LayerNames
{
    /// <summary>Throws CT1014, at the pattern's line and column, for the first pattern no node or weight name matches.</summary>
    public static void CheckOverrides(RecipePass pass, ModelProto model, string modelPath)
    {
        if (pass.Layers.Count == 0) return;
        var names = new HashSet<string>(StringComparer.Ordinal);
        Collect(model.Graph, names);
        foreach (var layer in pass.Layers)
        {
            var glob = WeightSelection.Glob(layer.Pattern);
            if (names.Any(glob.IsMatch)) continue;
            throw new CompressTasksException(DiagnosticCodes.RecipeLayerMatchesNothing,
                $"'{pass.Name}' layers: '{layer.Pattern}' matches no node or weight name of {Path.GetFileName(modelPath)}; " +
                "`compress inspect` lists them", layer.File, layer.Line, layer.Column);
        }
    }

    // Node names, initializer names and Constant node outputs, in every graph.
    private static void Collect(GraphProto? graph, HashSet<string> names)
    {
        if (graph is null) return;
        foreach (var tensor in graph.Initializer) names.Add(tensor.Name);
        foreach (var node in graph.Node)
        {
            if (node.Name.Length > 0) names.Add(node.Name);
            if (node.OpType == "Constant") names.UnionWith(node.Output);
            foreach (var attribute in node.Attribute)
            {
                Collect(attribute.G, names);
                foreach (var sub in attribute.Graphs) Collect(sub, names);
            }
        }
    }
}
