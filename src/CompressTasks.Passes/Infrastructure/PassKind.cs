namespace CompressTasks.Passes.Infrastructure;

/// <summary>What a pass does to the graph, broadly; used to group passes in docs, schema and reports.</summary>
public enum PassKind
{
    /// <summary>Removes nodes or values that do not affect the outputs (identity, dead code, duplicate initializers).</summary>
    Cleanup,

    /// <summary>Evaluates constant subgraphs ahead of time.</summary>
    Folding,

    /// <summary>Merges a pattern of nodes into fewer nodes (Conv+BatchNormalization, MatMul+Add).</summary>
    Fusion,

    /// <summary>Lowers the precision of weights and/or activations.</summary>
    Quantization,

    /// <summary>Removes weights, channels or heads.</summary>
    Pruning,

    /// <summary>Adjusts the remaining weights to recover accuracy, using the original model's activations.</summary>
    Reconstruction,
}
