using CompressTasks.Runtime;
using CompressTasks.Runtime.Data;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// The calibration inputs a recipe names at its top level (<c>calibration:</c> a <c>.npy</c>, <c>.npz</c> or ONNX
/// <c>.pb</c> file, or a folder of them), for passes that need to see the model's activations (static
/// quantization, reconstruction). The engine hands it to every pass through <see cref="PassArguments.Calibration"/>;
/// a pass that needs it and finds none skips with a reason. Reading goes through <see cref="FeedLoader"/>, the
/// same loader verification uses for evaluation data.
/// </summary>
/// <param name="Path">The data file or folder, already resolved against the recipe's folder.</param>
public sealed record CalibrationData(string Path)
{
    /// <summary>
    /// Up to <paramref name="maxBatches"/> feeds for a session with <paramref name="inputs"/> (0: every full
    /// batch), in file order; a batch is 50 rows, or the input's fixed first dimension.
    /// </summary>
    public IReadOnlyList<IReadOnlyDictionary<string, TensorValue>> Batches(IReadOnlyList<TensorInfo> inputs, int maxBatches = 0)
    {
        var feeds = FeedLoader.Load(Path, inputs, maxRows: int.MaxValue);
        return maxBatches > 0 && feeds.Count > maxBatches ? feeds.Take(maxBatches).ToList() : feeds;
    }
}
