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

    /// <summary>A graph edit would make a subgraph read a different value because the subgraph shadows a name.</summary>
    public const string NameShadowed = "CT0202";

    /// <summary>A constant is not in a form the graph IR can read (sparse_value, string tensor for a numeric view, wrong element type).</summary>
    public const string ConstantUnsupported = "CT0203";

    /// <summary>The recipe file (or a file named by <c>extends:</c>) does not exist or cannot be read.</summary>
    public const string RecipeNotFound = "CT1001";

    /// <summary>The recipe is not well-formed YAML (including a key repeated in one mapping); the position is the parser's.</summary>
    public const string RecipeMalformedYaml = "CT1002";

    /// <summary>The recipe has no content, or no passes once <c>extends:</c> is resolved.</summary>
    public const string RecipeEmpty = "CT1003";

    /// <summary>A key the recipe format does not define (top level, <c>verify:</c>); the message names the valid keys.</summary>
    public const string RecipeUnknownKey = "CT1004";

    /// <summary>A node has the wrong shape: a list where a mapping is expected, a pass entry with two keys (usually parameters not indented under the pass name).</summary>
    public const string RecipeInvalidStructure = "CT1005";

    /// <summary>A pass name the catalog does not know; the message suggests the closest and lists the valid ones.</summary>
    public const string RecipeUnknownPass = "CT1006";

    /// <summary>A parameter the pass does not declare; the message suggests the closest and lists the valid ones.</summary>
    public const string RecipeUnknownParameter = "CT1007";

    /// <summary>A value of the wrong type (text where a number or boolean is expected, a scalar where a list is expected).</summary>
    public const string RecipeWrongType = "CT1008";

    /// <summary>A number outside its allowed range (a ratio above 100%, a negative count).</summary>
    public const string RecipeValueOutOfRange = "CT1009";

    /// <summary>An enum parameter set to a value it does not allow; the message names the allowed values.</summary>
    public const string RecipeInvalidEnumValue = "CT1010";

    /// <summary>A data path (<c>calibration:</c>, <c>evaluation:</c>, <c>labels:</c>) names no existing file or folder.</summary>
    public const string RecipeDataNotFound = "CT1011";

    /// <summary><c>extends:</c> names neither a preset nor an existing recipe file.</summary>
    public const string RecipeExtendsNotFound = "CT1012";

    /// <summary>A chain of <c>extends:</c> leads back to a recipe already in the chain.</summary>
    public const string RecipeExtendsCycle = "CT1013";

    /// <summary>A <c>layers:</c> pattern matches no node or weight name of the model.</summary>
    public const string RecipeLayerMatchesNothing = "CT1014";

    /// <summary><c>output:</c> is no relative file path ending in <c>.onnx</c> that stays inside the output folder.</summary>
    public const string RecipeOutputInvalid = "CT1015";

    /// <summary>
    /// The build read a different <c>output:</c> from the recipe than the recipe resolves to (the build's quick read
    /// takes a plain top-level <c>output: name.onnx</c> line, following <c>extends:</c> files).
    /// </summary>
    public const string RecipeOutputMismatch = "CT1016";

    /// <summary>A value pinned under <c>inputs:</c> does not fit the model's input (element type, range or element count).</summary>
    public const string RecipeInputValueMismatch = "CT1020";

    /// <summary>An <c>inputs:</c> entry that pins values names no input of the model.</summary>
    public const string RecipeInputNotInModel = "CT1021";

    /// <summary>A pass left the graph invalid: a bug in CompressTasks, reported rather than written out.</summary>
    public const string PassBrokeGraph = "CT2001";

    /// <summary>ONNX Runtime could not load or run a model (original or compressed).</summary>
    public const string RuntimeFailed = "CT3001";

    /// <summary>Verification inputs could not be generated or read (unknown dims, unsupported input types, bad data files).</summary>
    public const string VerificationInputs = "CT3002";

    /// <summary>The compressed model broke the recipe's accuracy budget.</summary>
    public const string BudgetExceeded = "CT3003";

    /// <summary>Warning: the compressed model is within the accuracy budget but close to a limit.</summary>
    public const string BudgetNearMiss = "CT3004";

    /// <summary>Calibration or evaluation data hold no values for one of the model's inputs (the message names it).</summary>
    public const string DataInputMissing = "CT3010";

    /// <summary>Calibration or evaluation data name an input the model does not have (the message lists the inputs).</summary>
    public const string DataInputUnknown = "CT3011";

    /// <summary>
    /// Warning: an output's cosine (or SNR) breaks the budget while its largest error is at float rounding noise
    /// relative to the output's scale (outputs near zero); the budget is judged by the absolute error instead.
    /// </summary>
    public const string NearZeroOutput = "CT3020";

    /// <summary>Warning: the recipe asked for an execution provider (CUDA) that is not available; verification ran on CPU.</summary>
    public const string ExecutionProviderFallback = "CT3021";

    /// <summary>The command line or a response file for <c>compress</c> is invalid.</summary>
    public const string ToolUsage = "CT9001";

    /// <summary>The compress tool failed unexpectedly (a bug): the message carries the exception.</summary>
    public const string ToolCrashed = "CT9002";

    /// <summary>The MSBuild task could not start the compress tool (no dotnet host, missing compress.dll).</summary>
    public const string ToolNotStarted = "CT9003";

    /// <summary>The recipe named for a model (an OnnxModel item's Recipe, or --recipe) does not exist.</summary>
    public const string RecipeMissing = "CT9004";

    /// <summary>Two models of one project would be written to the same output path (emitted by the MSBuild task).</summary>
    public const string OutputCollision = "CT9005";
}
