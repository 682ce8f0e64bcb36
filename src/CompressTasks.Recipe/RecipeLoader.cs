using CompressTasks.Diagnostics;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe.Presets;
using YamlDotNet.Core;

namespace CompressTasks.Recipe;

/// <summary>
/// Loads <c>compression.yaml</c>, validates it against an <see cref="IPassCatalog"/> and applies
/// <c>extends:</c>, collecting every error rather than stopping at the first.
/// </summary>
/// <remarks>
/// <para><b>extends.</b> <c>extends: optimize</c> names a preset (see <see cref="RecipePresets"/>);
/// <c>extends: ./base.yaml</c> names a file relative to the extending recipe. Bases may extend further;
/// a cycle is an error. The result is flat: the base's settings and passes are merged into the child:</para>
/// <list type="bullet">
/// <item>Passes start as the base's list. Each child entry replaces, at the same position, the first base
/// entry of the same name that no earlier child entry has replaced; its parameters replace the base's
/// entirely (a bare name resets them to the defaults). A child entry with no such base entry is appended.
/// <c>- pass-name: off</c> removes that base entry instead.</item>
/// <item><c>output</c>, <c>opset</c>, <c>verify</c>, <c>calibration</c>, <c>evaluation</c> and <c>labels</c>:
/// the child's value, when it sets one, replaces the base's (<c>verify</c> as a whole).</item>
/// <item><c>inputs</c>: merged by input name; the child's shape wins.</item>
/// <item>Data paths are relative to the recipe file that wrote them.</item>
/// </list>
/// </remarks>
public sealed class RecipeLoader(IPassCatalog catalog)
{
    /// <summary>Loads the recipe at <paramref name="path"/>.</summary>
    public RecipeLoadResult Load(string path)
    {
        var errors = new List<CompressTasksException>();
        var full = Path.GetFullPath(path);
        var text = ReadFile(full, errors, path, default);
        var recipe = text is null ? null : LoadChain(text, full, Path.GetDirectoryName(full)!, [full], errors);
        return Finish(recipe, full, errors);
    }

    /// <summary>
    /// Loads recipe text as if it were the file <paramref name="path"/>: that path appears in diagnostics, and
    /// <c>extends:</c> and data paths resolve against its folder. The file itself need not exist.
    /// </summary>
    public RecipeLoadResult Parse(string yaml, string path)
    {
        var errors = new List<CompressTasksException>();
        var full = Path.GetFullPath(path);
        var recipe = LoadChain(yaml, full, Path.GetDirectoryName(full)!, [full], errors);
        return Finish(recipe, full, errors);
    }

    private static RecipeLoadResult Finish(Recipe? recipe, string path, List<CompressTasksException> errors)
    {
        if (recipe is not null && errors.Count == 0 && recipe.Passes.Count == 0)
        {
            errors.Add(new CompressTasksException(DiagnosticCodes.RecipeEmpty,
                "The recipe has no passes; list some under 'passes:' or extend a preset (extends: optimize).", path, 1, 1));
        }

        return new RecipeLoadResult(recipe is null ? null : new Recipe
        {
            SourcePath = path,
            ExtendsChain = recipe.ExtendsChain,
            Passes = recipe.Passes,
            Output = recipe.Output,
            OutputLocation = recipe.OutputLocation,
            BaseFiles = recipe.BaseFiles,
            Opset = recipe.Opset,
            Runtime = recipe.Runtime,
            Inputs = recipe.Inputs,
            InputValues = recipe.InputValues,
            Verify = recipe.Verify,
            VerifyLocation = recipe.VerifyLocation,
            Calibration = recipe.Calibration,
            Evaluation = recipe.Evaluation,
            Labels = recipe.Labels,
            Auto = recipe.Auto,
        }, errors);
    }

    /// <summary>Parses one recipe, loads its base (recursively) and merges the two.</summary>
    private Recipe? LoadChain(string yaml, string file, string directory, List<string> chain, List<CompressTasksException> errors)
    {
        var reader = new ValueReader(file, errors);
        var document = new RecipeParser(catalog, reader, directory).Parse(yaml);
        if (document is null)
        {
            return null;
        }

        Recipe? baseRecipe = null;
        if (document.Extends is { } extends)
        {
            baseRecipe = LoadBase(extends, document.ExtendsMark, reader, directory, chain, errors);
            if (baseRecipe is null)
            {
                return null;
            }
        }

        return Merge(baseRecipe, document);
    }

    private Recipe? LoadBase(string extends, Mark at, ValueReader reader, string directory, List<string> chain, List<CompressTasksException> errors)
    {
        string identity, text, baseDirectory;
        if (RecipePresets.IsPresetReference(extends))
        {
            identity = RecipePresets.DisplayPath(extends);
            var preset = RecipePresets.TryGetText(extends);
            if (preset is null)
            {
                reader.Error(DiagnosticCodes.RecipeExtendsNotFound,
                    $"'extends: {extends}' names no preset.{NameSuggestions.DidYouMean(extends, RecipePresets.Names)} " +
                    $"Presets: {string.Join(", ", RecipePresets.Names)}; a file path needs a '/' or a .yaml extension.", at);
                return null;
            }

            text = preset;
            baseDirectory = directory;
        }
        else
        {
            identity = Path.GetFullPath(Path.Combine(directory, extends));
            if (!File.Exists(identity))
            {
                reader.Error(DiagnosticCodes.RecipeExtendsNotFound, $"'extends: {extends}' names a file that does not exist (looked for {identity}).", at);
                return null;
            }

            var read = ReadFile(identity, errors, reader.File, at);
            if (read is null)
            {
                return null;
            }

            text = read;
            baseDirectory = Path.GetDirectoryName(identity)!;
        }

        if (chain.Contains(identity, DataPath.PathComparer))
        {
            reader.Error(DiagnosticCodes.RecipeExtendsCycle,
                $"'extends: {extends}' leads back to a recipe already being extended: {string.Join(" -> ", chain.Append(identity))}.", at);
            return null;
        }

        var baseRecipe = LoadChain(text, identity, baseDirectory, [.. chain, identity], errors);
        return baseRecipe is null ? null : new Recipe
        {
            ExtendsChain = [extends, .. baseRecipe.ExtendsChain],
            Passes = baseRecipe.Passes,
            Output = baseRecipe.Output,
            OutputLocation = baseRecipe.OutputLocation,
            BaseFiles = RecipePresets.IsPresetReference(extends) ? baseRecipe.BaseFiles : [identity, .. baseRecipe.BaseFiles],
            Opset = baseRecipe.Opset,
            Runtime = baseRecipe.Runtime,
            Inputs = baseRecipe.Inputs,
            InputValues = baseRecipe.InputValues,
            Verify = baseRecipe.Verify,
            VerifyLocation = baseRecipe.VerifyLocation,
            Calibration = baseRecipe.Calibration,
            Evaluation = baseRecipe.Evaluation,
            Labels = baseRecipe.Labels,
            Auto = baseRecipe.Auto,
        };
    }

    private static Recipe Merge(Recipe? baseRecipe, RecipeDocument child)
    {
        var passes = new List<RecipePass>(baseRecipe?.Passes ?? []);
        var replaced = new List<bool>(passes.Select(_ => false));
        foreach (var entry in child.Passes)
        {
            var index = Enumerable.Range(0, passes.Count).FirstOrDefault(i => !replaced[i] && passes[i].Name == entry.Name, -1);
            if (entry.Remove)
            {
                if (index >= 0)
                {
                    passes.RemoveAt(index);
                    replaced.RemoveAt(index);
                }
            }
            else if (index >= 0)
            {
                passes[index] = entry.Pass!;
                replaced[index] = true;
            }
            else
            {
                passes.Add(entry.Pass!);
                replaced.Add(true);
            }
        }

        // An input the child names replaces the base's entry whole: shape and values.
        var inputs = new List<KeyValuePair<string, IReadOnlyList<int>>>(
            (baseRecipe?.Inputs ?? []).Where(i => !child.InputNames.Contains(i.Key) || child.Inputs.Any(c => c.Key == i.Key)));
        var inputValues = new List<PinnedInput>((baseRecipe?.InputValues ?? []).Where(i => !child.InputNames.Contains(i.Name)));
        inputValues.AddRange(child.InputValues);
        foreach (var input in child.Inputs)
        {
            var index = inputs.FindIndex(i => i.Key == input.Key);
            if (index >= 0)
            {
                inputs[index] = input;
            }
            else
            {
                inputs.Add(input);
            }
        }

        return new Recipe
        {
            ExtendsChain = baseRecipe?.ExtendsChain ?? [],
            Passes = passes,
            Output = child.Output ?? baseRecipe?.Output,
            OutputLocation = child.Output is not null ? child.OutputLocation : baseRecipe?.OutputLocation,
            BaseFiles = baseRecipe?.BaseFiles ?? [],
            Opset = child.Opset ?? baseRecipe?.Opset,
            Runtime = child.Runtime ?? baseRecipe?.Runtime,
            Inputs = inputs,
            InputValues = inputValues,
            Verify = child.Verify ?? baseRecipe?.Verify,
            VerifyLocation = child.Verify is not null ? child.VerifyLocation : baseRecipe?.VerifyLocation,
            Calibration = child.Calibration ?? baseRecipe?.Calibration,
            Evaluation = child.Evaluation ?? baseRecipe?.Evaluation,
            Labels = child.Labels ?? baseRecipe?.Labels,
            Auto = child.Auto ?? baseRecipe?.Auto,
        };
    }

    private static string? ReadFile(string full, List<CompressTasksException> errors, string reportFile, Mark at)
    {
        try
        {
            return File.ReadAllText(full);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var code = at.Line == 0 ? DiagnosticCodes.RecipeNotFound : DiagnosticCodes.RecipeExtendsNotFound;
            errors.Add(new CompressTasksException(code, $"Cannot read recipe '{full}': {ex.Message}", at.Line == 0 ? full : reportFile, (int)at.Line, (int)at.Column, ex));
            return null;
        }
    }
}
