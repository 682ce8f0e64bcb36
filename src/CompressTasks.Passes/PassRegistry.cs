using CompressTasks.Passes.Cleanup;
using CompressTasks.Passes.Folding;
using CompressTasks.Passes.Fusion;
using CompressTasks.Passes.Pruning;
using CompressTasks.Passes.Quantization;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Passes.Versioning;

namespace CompressTasks.Passes;

/// <summary>
/// Every pass a recipe can name, in documentation order. Adding a pass: one file, one line here, one test file.
/// </summary>
public static class PassRegistry
{
    public static IReadOnlyList<GraphPass> All { get; } =
    [
        new LiftConstants(),
        new FoldConstants(),
        new EliminateIdentity(),
        new EliminateDead(),
        new DedupeInitializers(),
        new FuseBatchNormIntoConv(),
        new FuseMatMulAdd(),
        new ConvertWeightsToFloat16(),
        new QuantizeWeightsInt8(),
        new FuseTransposes(),
        new FuseReshapes(),
        new FoldReshapeShape(),
        new FuseBatchNormIntoGemm(),
        new FuseConvMulAdd(),
        new FuseLayerNorm(),
        new FuseGelu(),
        new ConvertOpset(),
        new ConvertToFloat16(),
        new QuantizeWeightsInt4(),
        new SmoothActivations(),
        new QuantizeDynamic(),
        new QuantizeStatic(),
        new QuantizeEmbeddings(),
        new PruneMagnitude(),
        new ClipWeights(),
        new PruneChannels(),
        new FuseSkipLayerNorm(),
        new FuseConvActivation(),
        new FuseAttention(),
    ];

    /// <summary>The declarations recipes are validated against.</summary>
    public static IPassCatalog Catalog { get; } = new PassCatalog(All.Select(p => p.Descriptor));

    /// <summary>The pass called <paramref name="name"/>; the catalog has already validated recipe names.</summary>
    public static GraphPass Get(string name) =>
        All.FirstOrDefault(p => p.Descriptor.Name == name)
        ?? throw new ArgumentException($"no pass '{name}'; passes: {string.Join(", ", All.Select(p => p.Descriptor.Name))}", nameof(name));
}
