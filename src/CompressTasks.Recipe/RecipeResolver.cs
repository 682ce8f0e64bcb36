namespace CompressTasks.Recipe;

/// <summary>Which recipe applies to a model file.</summary>
public static class RecipeResolver
{
    /// <summary>The shared recipe file name looked for next to models.</summary>
    public const string DefaultFileName = "compression.yaml";

    /// <summary>
    /// For <c>dir/m.onnx</c>: <c>dir/m.compression.yaml</c> when it exists, else <c>dir/compression.yaml</c>
    /// when it exists, else null. The model-specific recipe wins so one folder can hold several models.
    /// </summary>
    public static string? FindRecipeFor(string modelPath)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        var specific = Path.Combine(directory, Path.GetFileNameWithoutExtension(modelPath) + "." + DefaultFileName);
        if (File.Exists(specific))
        {
            return specific;
        }

        var shared = Path.Combine(directory, DefaultFileName);
        return File.Exists(shared) ? shared : null;
    }
}
