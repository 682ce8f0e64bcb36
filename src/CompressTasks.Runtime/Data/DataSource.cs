namespace CompressTasks.Runtime.Data;

/// <summary>
/// Where calibration or evaluation inputs come from, as <see cref="FeedLoader"/> reads them: one file or folder
/// (<see cref="Path"/>), or one file per model input (<see cref="Inputs"/>, the recipe's
/// <c>calibration: { input_ids: a.npy, attention_mask: b.npy }</c>).
/// </summary>
public sealed class DataSource
{
    private DataSource(string? path, IReadOnlyList<KeyValuePair<string, string>> inputs)
    {
        Path = path;
        Inputs = inputs;
    }

    /// <summary>The data file or folder (absolute); null for the per-input form.</summary>
    public string? Path { get; }

    /// <summary>Model input name → its data file (absolute), in recipe order; empty for the one-path form.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Inputs { get; }

    /// <summary>A <c>.npy</c>, <c>.npz</c> or <c>.pb</c> file, or a folder of them (or of <c>test_data_set_*</c> folders).</summary>
    public static DataSource FromPath(string path) => new(path, []);

    /// <summary>One file per model input.</summary>
    public static DataSource PerInput(IEnumerable<KeyValuePair<string, string>> inputs) => new(null, [.. inputs]);

    /// <summary>Every file or folder this source reads.</summary>
    public IEnumerable<string> Locations => Path is not null ? [Path] : Inputs.Select(i => i.Value);

    /// <summary>The path, or <c>{ input: path, … }</c>, for messages.</summary>
    public override string ToString() => Path ?? "{ " + string.Join(", ", Inputs.Select(i => $"{i.Key}: {i.Value}")) + " }";
}
