namespace CompressTasks.Diagnostics;

/// <summary>
/// Every diagnostic code CompressTasks emits. Codes are stable: a code is never reused for another meaning.
/// CT01xx model files, CT02xx graph structure, CT1xxx recipes, CT2xxx passes, CT3xxx verification,
/// CT9xxx tool and build plumbing.
/// </summary>
public static class DiagnosticCodes
{
    /// <summary>The model file does not exist or cannot be opened.</summary>
    public const string ModelNotFound = "CT0101";

    /// <summary>The file is not a valid ONNX protobuf: truncated, garbage, or wrong wire types.</summary>
    public const string ModelMalformed = "CT0102";

    /// <summary>The model file is larger than protobuf's 2 GB message limit.</summary>
    public const string ModelTooLarge = "CT0103";

    /// <summary>A tensor's external data file is missing or its location is not allowed.</summary>
    public const string ExternalDataMissing = "CT0104";

    /// <summary>A tensor's external data offset/length lies outside its file or is malformed.</summary>
    public const string ExternalDataOutOfRange = "CT0105";

    /// <summary>Nesting of graphs (If/Loop/Scan bodies) deeper than the reader accepts.</summary>
    public const string ModelTooDeep = "CT0106";

    /// <summary>A tensor's payload does not match its declared type and shape.</summary>
    public const string TensorDataInvalid = "CT0107";

    /// <summary>Writing the model failed (I/O error, or it cannot fit the 2 GB limit even with external data).</summary>
    public const string ModelWriteFailed = "CT0108";

    /// <summary>The graph is structurally invalid (dangling input, cycle, duplicate producer, missing output).</summary>
    public const string GraphInvalid = "CT0201";

    /// <summary>The command line or a response file for <c>compress</c> is invalid.</summary>
    public const string ToolUsage = "CT9001";

    /// <summary>The compress tool failed unexpectedly (a bug): the message carries the exception.</summary>
    public const string ToolCrashed = "CT9002";

    /// <summary>The MSBuild task could not start the compress tool (no dotnet host, missing compress.dll).</summary>
    public const string ToolNotStarted = "CT9003";

    /// <summary>The recipe named for a model (an OnnxModel item's Recipe, or --recipe) does not exist.</summary>
    public const string RecipeMissing = "CT9004";
}
