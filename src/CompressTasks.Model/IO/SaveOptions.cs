namespace CompressTasks.Model;

/// <summary>Where tensor payloads go when a model is written.</summary>
public enum ExternalDataPolicy
{
    /// <summary>Tensors stay where they were (inline or external); large tensors move out only when the model would pass 2 GiB.</summary>
    Keep,

    /// <summary>Every tensor of at least <see cref="SaveOptions.SizeThreshold"/> bytes goes to the external data file.</summary>
    All,

    /// <summary>Everything inline; a model that would pass 2 GiB is an error.</summary>
    None,
}

/// <summary>Options for <see cref="OnnxModel.Save"/>.</summary>
public sealed record SaveOptions
{
    public ExternalDataPolicy ExternalData { get; init; } = ExternalDataPolicy.Keep;

    /// <summary>
    /// Smallest payload, in bytes, that is moved to external data by <see cref="ExternalDataPolicy.All"/> or the 2 GiB rule.
    /// Keep it above the size of shape-like tensors: ONNX shape inference (and so ONNX Runtime) refuses a model whose
    /// Reshape shape, Slice starts, Unsqueeze axes and the like are external (measured on the backend suite with 0).
    /// </summary>
    public long SizeThreshold { get; init; } = 1024;

    /// <summary>External data file name, beside the model; default: the model's file name + <c>.data</c>.</summary>
    public string? DataFileName { get; init; }

    /// <summary>Alignment of each tensor in the data file, so runtimes can memory-map it.</summary>
    public int Alignment { get; init; } = 4096;

    /// <summary>Size the model may reach inline before large tensors are moved out (tests lower it to exercise the rule).</summary>
    public long InlineLimit { get; init; } = OnnxModel.ProtobufLimit - (64 << 20);
}
