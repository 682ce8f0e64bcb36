using CompressTasks.Runtime.Calibration;
using CompressTasks.Runtime.Data;

namespace CompressTasks.Passes.Infrastructure;

/// <summary>
/// What a pass may need besides its graph and arguments: the teacher (the original model, as it was before any
/// pass ran) and the recipe's calibration data (<see cref="Calibration"/>), the teacher's layer statistics on it
/// offered as <see cref="Teacher"/>, created on first use. The one way calibration reaches passes.
/// </summary>
/// <remarks>
/// Passes that need the teacher (<c>method: gptq</c>, <c>bias-correction</c>) ask <see cref="Teacher"/>; passes that
/// run the model as it stands (quantize-static) read <see cref="Calibration"/> with <c>FeedLoader</c>. When either is
/// null the recipe has no <c>calibration:</c> entry and they skip with <see cref="MissingCalibration"/> as the
/// reason. The statistics are shared by every pass of one run, so a value is collected once.
/// </remarks>
public sealed class PassContext
{
    private TeacherStatistics? _teacher;

    /// <summary>A context with no teacher and no calibration data.</summary>
    public static PassContext None { get; } = new();

    /// <summary>
    /// A context for the model at <paramref name="originalModelPath"/> (read again from disk, so edits made by
    /// passes never leak into the teacher) and the calibration file or folder at <paramref name="calibrationPath"/>.
    /// </summary>
    public PassContext(string? originalModelPath = null, string? calibrationPath = null)
        : this(originalModelPath, calibrationPath is null ? null : DataSource.FromPath(calibrationPath))
    {
    }

    /// <summary>A context for the model at <paramref name="originalModelPath"/> and the calibration data <paramref name="calibration"/> names.</summary>
    public PassContext(string? originalModelPath, DataSource? calibration)
    {
        OriginalModelPath = originalModelPath;
        Calibration = calibration;
    }

    /// <summary>The original model file, if known.</summary>
    public string? OriginalModelPath { get; }

    /// <summary>The recipe's calibration data (a file or folder, or one file per input), if any.</summary>
    public DataSource? Calibration { get; }

    /// <summary>Teacher statistics on the calibration data; null without a model path or calibration data.</summary>
    public TeacherStatistics? Teacher =>
        _teacher ??= OriginalModelPath is null || Calibration is null ? null : new TeacherStatistics(OriginalModelPath, Calibration);

    /// <summary>The skip reason of a pass that needs calibration data in a run without any.</summary>
    public static string MissingCalibration(string what) =>
        $"{what} needs calibration data: add a top-level 'calibration:' entry (a .npy/.npz/.pb file or folder) to the recipe";
}
