namespace CompressTasks.Runtime;

/// <summary>ONNX Runtime's graph optimization levels, as users choose them.</summary>
public enum OptimizationLevel
{
    /// <summary>No graph rewrites: what the model says is what runs (used to check our own rewrites).</summary>
    Disabled,
    Basic,
    Extended,
    /// <summary>ONNX Runtime's default, the level users run.</summary>
    All,
}

/// <summary>How sessions are created. Teacher and student always use the same options.</summary>
public sealed record RuntimeOptions
{
    public OptimizationLevel Optimization { get; init; } = OptimizationLevel.All;

    /// <summary>Intra-op threads; 0 lets ONNX Runtime decide.</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Use the CUDA execution provider when the package and a GPU are present; otherwise CPU.</summary>
    public bool PreferCuda { get; init; }

    /// <summary>When set, ONNX Runtime writes the graph it optimized to this path (its offline optimizer).</summary>
    public string? OptimizedModelPath { get; init; }

    /// <summary>
    /// Return activation memory to the system after each run instead of keeping ONNX Runtime's arena and memory
    /// pattern: for sessions that expose many intermediate values (statistics, calibration), whose arena otherwise
    /// grows to the sum of every exposed value and stays there for the life of the process.
    /// </summary>
    public bool ReleaseActivations { get; init; }

    /// <summary>
    /// Let ONNX Runtime copy MatMul/Conv weights into its kernels' packed layouts when the session is created (its
    /// default, and what deployments run). Off, a session holds no second copy of the weights, and external data stays
    /// memory-mapped by ONNX Runtime: for sessions that only compare outputs on a few samples, where the packed copy
    /// is one more model-sized buffer per session (measured: 268 MB for a 256 MB MLP, 12 MB without).
    /// </summary>
    public bool PrepackWeights { get; init; } = true;
}
