using CompressTasks.Graphs;
using CompressTasks.Model.Onnx;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// ONNX Runtime's contrib operator set, com.microsoft, and the <c>domain</c> parameter of the passes that can emit
/// its ops. One declaration keeps the key, the values and the default alike in every such pass, which the engine
/// relies on: <c>runtime: onnxruntime</c> sets <see cref="Key"/> to <see cref="Name"/> wherever a pass declares it.
/// </summary>
public static class ContribDomain
{
    /// <summary>The operator set's domain.</summary>
    public const string Name = "com.microsoft";

    /// <summary>The recipe key of the parameter.</summary>
    public const string Key = "domain";

    /// <summary>
    /// The parameter's description for a pass whose op exists only in com.microsoft, so the standard value fuses nothing.
    /// </summary>
    public const string OnlyThereDoc =
        "com.microsoft: fuse (models run only by ONNX Runtime); standard: no such op exists, so matches are only reported as skips.";

    /// <summary>Declares <c>domain: standard | com.microsoft</c>, default standard, described by <paramref name="doc"/>.</summary>
    public static ParameterSpec Parameter(string doc = OnlyThereDoc) => ParameterSpec.Enum(Key, "standard", ["standard", Name], doc);

    /// <summary>Whether the run asked for com.microsoft (else standard).</summary>
    public static bool IsAsked(PassArguments arguments) => arguments.GetString(Key) == Name;

    /// <summary>The skip reason of a pass whose <paramref name="opType"/> exists only in com.microsoft, run with standard.</summary>
    public static string NotAsked(string where, string opType) =>
        $"{where}: {opType} exists only in ONNX Runtime's {Name} domain (asked for standard)";

    /// <summary>Imports com.microsoft version 1 into the graph's model unless it imports some version already.</summary>
    public static void Import(Graph graph)
    {
        if (graph.GetOpsetVersion(Name) is null)
            graph.Model.Proto.OpsetImport.Add(new OperatorSetIdProto { Domain = Name, Version = 1 });
    }
}
