using CompressTasks.Model;
using CompressTasks.Model.Onnx;
using CompressTasks.Passes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe;
using Google.Protobuf;

namespace CompressTasks.Engine.Tuning;

/// <summary>Applies pass lists to in-memory copies of a model: the variants the search measures.</summary>
internal static class ModelVariants
{
    /// <summary>Runs <paramref name="steps"/> on a copy of <paramref name="model"/> (bytes) and returns the result's bytes.</summary>
    /// <remarks>Teacher-guided passes read the original model at <paramref name="sourcePath"/> and the recipe's calibration data.</remarks>
    public static byte[] Apply(byte[] model, IReadOnlyList<PassStep> steps, string? sourcePath, Recipe.Recipe recipe)
    {
        using var copy = OnnxModel.Parse(model, sourcePath);
        var context = PipelineSteps.Context(sourcePath, recipe);
        PassManager.Run(copy, steps, rounds: PipelineSteps.Lossless(steps) ? 4 : 1, context: context);
        return copy.Proto.ToByteArray();
    }

    /// <summary>The candidate's arguments narrowed to exactly <paramref name="layers"/> (weight names).</summary>
    public static PassArguments Narrow(RecipePass candidate, IReadOnlyList<string> layers)
    {
        var values = candidate.Arguments.Explicit.Where(kv => kv.Key is not ("include" or "exclude" or "keep-first" or "keep-last")).ToList();
        values.Add(new("include", layers));
        return new PassArguments(candidate.Arguments.Pass, values);
    }

    /// <summary>
    /// The float weights a step list changed, in the main graph and in every If/Loop/Scan body: initializers of
    /// <paramref name="before"/> that are gone from <paramref name="after"/> or hold other bytes or another type there.
    /// Generic over passes, so any weight pass is a candidate. Names are the weights' own (a pass narrows by them).
    /// </summary>
    public static List<string> ChangedWeights(byte[] before, byte[] after)
    {
        using var a = OnnxModel.Parse(before);
        using var b = OnnxModel.Parse(after);
        var later = new Dictionary<string, TensorProto>(StringComparer.Ordinal);
        foreach (var t in Initializers(b.Proto.Graph)) later.TryAdd(t.Name, t);
        var changed = new List<string>();
        foreach (var t in Initializers(a.Proto.Graph))
        {
            if (t.DataType != (int)TensorProto.Types.DataType.Float || changed.Contains(t.Name)) continue;
            if (!later.TryGetValue(t.Name, out var u) || u.DataType != t.DataType
                || !a.GetTensorBytes(t).Span.SequenceEqual(b.GetTensorBytes(u).Span))
                changed.Add(t.Name);
        }
        return changed;
    }

    // Initializers of a graph, then of the graphs its nodes hold, depth first.
    private static IEnumerable<TensorProto> Initializers(GraphProto graph)
    {
        foreach (var t in graph.Initializer) yield return t;
        foreach (var node in graph.Node)
            foreach (var attribute in node.Attribute)
            {
                if (attribute.G is { } g) foreach (var t in Initializers(g)) yield return t;
                foreach (var sub in attribute.Graphs) foreach (var t in Initializers(sub)) yield return t;
            }
    }
}
