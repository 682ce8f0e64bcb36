using CompressTasks.Diagnostics;
using CompressTasks.Passes.Infrastructure;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CompressTasks.Recipe;

/// <summary>Reads one recipe file into a <see cref="RecipeDocument"/>, validating every node it can reach.</summary>
internal sealed partial class RecipeParser(IPassCatalog catalog, ValueReader reader, string baseDirectory)
{
    /// <summary>The top-level keys, in the order <see cref="RecipeWriter"/> prints them.</summary>
    public static readonly string[] TopLevelKeys = ["extends", "output", "opset", "runtime", "inputs", "calibration", "evaluation", "labels", "verify", "passes", "auto"];

    /// <summary>The keys of a <c>verify:</c> mapping.</summary>
    public static readonly string[] VerifyKeys = ["min-cosine", "min-snr", "max-abs-error", "max-top1-drop", "latency", "threads", "optimization", "execution-provider"];

    /// <summary>Parses <paramref name="yaml"/>; returns null when the text is not YAML or is empty (the error is recorded).</summary>
    public RecipeDocument? Parse(string yaml)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException ex)
        {
            // YamlDotNet's message starts with "(Line: 3, Col: 5, ...)": keep only the explanation.
            var message = ex.InnerException?.Message ?? ex.Message;
            var close = message.IndexOf("): ", StringComparison.Ordinal);
            message = message.StartsWith('(') && close > 0 ? message[(close + 3)..] : message;
            if (message.StartsWith("Duplicate key ", StringComparison.Ordinal))
            {
                message = $"the key '{message["Duplicate key ".Length..]}' appears twice in one mapping; keep one.";
            }

            reader.Error(DiagnosticCodes.RecipeMalformedYaml, $"The recipe is not valid YAML: {message}", ex.Start);
            return null;
        }

        if (stream.Documents.Count == 0 || ValueReader.IsNull(stream.Documents[0].RootNode))
        {
            reader.Error(DiagnosticCodes.RecipeEmpty, "The recipe is empty; it needs 'passes:' or 'extends:'.", new Mark(0, 1, 1));
            return null;
        }

        if (stream.Documents.Count > 1)
        {
            reader.Error(DiagnosticCodes.RecipeInvalidStructure, "A recipe is one YAML document; remove the '---' and everything after it.",
                stream.Documents[1].RootNode);
        }

        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            reader.Error(DiagnosticCodes.RecipeInvalidStructure,
                $"A recipe is a mapping of keys ({string.Join(", ", TopLevelKeys)}), not {ValueReader.Describe(stream.Documents[0].RootNode)}.",
                stream.Documents[0].RootNode);
            return null;
        }

        var document = new RecipeDocument { File = reader.File };
        foreach (var (key, value) in Entries(root, TopLevelKeys, "top-level key"))
        {
            switch (key)
            {
                case "extends":
                    document.Extends = reader.Scalar(value, "'extends'");
                    document.ExtendsMark = value.Start;
                    break;
                case "output":
                    document.Output = ReadOutput(value);
                    document.OutputLocation = document.Output is null ? null : new RecipeLocation(reader.File, (int)value.Start.Line, (int)value.Start.Column);
                    break;
                case "opset":
                    document.Opset = reader.Int(value, "'opset'", 1, null);
                    break;
                case "runtime":
                    document.Runtime = reader.Enum(value, "'runtime'", Recipe.Runtimes);
                    break;
                case "inputs":
                    ReadInputs(value, document);
                    break;
                case "calibration":
                    document.Calibration = ReadData(value, key);
                    break;
                case "evaluation":
                    document.Evaluation = ReadData(value, key);
                    break;
                case "labels":
                    document.Labels = ReadDataPath(value, key);
                    break;
                case "verify":
                    document.Verify = ReadVerify(value);
                    var mark = root.Children.Keys.First(k => k is YamlScalarNode { Value: "verify" }).Start;
                    document.VerifyLocation = new RecipeLocation(reader.File, (int)mark.Line, (int)mark.Column);
                    break;
                case "passes":
                    ReadPasses(value, document);
                    break;
                case "auto":
                    document.Auto = ReadAuto(value);
                    break;
            }
        }

        return document;
    }

    /// <summary>
    /// The scalar-keyed entries of <paramref name="mapping"/> whose keys are in <paramref name="valid"/>;
    /// reports unknown, repeated and non-scalar keys.
    /// </summary>
    private IEnumerable<(string Key, YamlNode Value)> Entries(YamlMappingNode mapping, IReadOnlyList<string> valid, string what)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"A {what} must be a plain name, not {ValueReader.Describe(keyNode)}.", keyNode);
                continue;
            }

            if (!valid.Contains(key, StringComparer.Ordinal))
            {
                reader.Error(DiagnosticCodes.RecipeUnknownKey,
                    $"Unknown {what} '{key}'.{NameSuggestions.DidYouMean(key, valid)} Valid keys: {string.Join(", ", valid)}.", keyNode);
                continue;
            }

            if (!seen.Add(key))
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"'{key}' appears twice; keep one.", keyNode);
                continue;
            }

            yield return (key, value);
        }
    }

    private void ReadInputs(YamlNode node, RecipeDocument document)
    {
        if (node is not YamlMappingNode mapping)
        {
            reader.Error(DiagnosticCodes.RecipeWrongType, $"'inputs' must map input names to shapes (input: [1, 3, 224, 224]) or to pinned values (sr: {{ value: 16000 }}), not {ValueReader.Describe(node)}.", node);
            return;
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, value) in mapping.Children)
        {
            var name = reader.Scalar(keyNode, "An input name");
            if (name is null)
            {
                continue;
            }

            if (!names.Add(name))
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"Input '{name}' appears twice; keep one.", keyNode);
                continue;
            }

            document.InputNames.Add(name);
            YamlNode? shapeNode = value;
            if (value is YamlMappingNode entry)
            {
                shapeNode = null;
                var values = new List<PinnedValue>();
                bool ok = true;
                foreach (var (key, item) in Entries(entry, PinnedInput.Keys, $"setting of input '{name}'"))
                {
                    switch (key)
                    {
                        case "shape":
                            shapeNode = item;
                            break;
                        case "value":
                            if (values.Count > 0)
                            {
                                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"Input '{name}' takes 'value' (every sample) or 'values' (cycled across samples), not both.", item);
                                ok = false;
                                break;
                            }

                            ok &= ReadPinnedValue(item, name, values);
                            break;
                        default:
                            if (values.Count > 0)
                            {
                                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"Input '{name}' takes 'value' (every sample) or 'values' (cycled across samples), not both.", item);
                                ok = false;
                                break;
                            }

                            if (item is not YamlSequenceNode { Children.Count: > 0 } samples)
                            {
                                reader.Error(DiagnosticCodes.RecipeWrongType,
                                    $"'values' of input '{name}' must be a non-empty list of values, one per sample (values: [8000, 16000]), not {ValueReader.Describe(item)}.", item);
                                ok = false;
                                break;
                            }

                            foreach (var sample in samples.Children)
                            {
                                ok &= ReadPinnedValue(sample, name, values);
                            }

                            break;
                    }
                }

                if (entry.Children.Count == 0)
                {
                    reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"Input '{name}' needs 'shape', 'value' or 'values'.", entry);
                }

                if (ok && values.Count > 0)
                {
                    document.InputValues.Add(new PinnedInput(name, values, reader.File));
                }

                if (shapeNode is null)
                {
                    continue;
                }
            }

            if (shapeNode is not YamlSequenceNode dims)
            {
                reader.Error(DiagnosticCodes.RecipeWrongType, $"The shape of input '{name}' must be a list of sizes such as [1, 3, 224, 224], not {ValueReader.Describe(shapeNode)}.", shapeNode);
                continue;
            }

            var shape = dims.Children.Select(d => reader.Int(d, $"A dimension of input '{name}'", 1, null)).ToList();
            if (shape.All(d => d is not null))
            {
                document.Inputs.Add(new(name, [.. shape.Select(d => d!.Value)]));
            }
        }
    }

    // A pinned value: a number (every element) or a flat list of numbers (one per element); true/false read as 1/0.
    private bool ReadPinnedValue(YamlNode node, string name, List<PinnedValue> values)
    {
        var items = node is YamlSequenceNode list ? list.Children : [node];
        var elements = new List<double>(items.Count);
        foreach (var item in items)
        {
            if (item is not YamlScalarNode { Value: { } text } || ValueReader.IsNull(item))
            {
                reader.Error(DiagnosticCodes.RecipeWrongType,
                    $"A value of input '{name}' is a number or a flat list of numbers (one per element), not {ValueReader.Describe(item)}.", item);
                return false;
            }

            if (bool.TryParse(text, out var flag))
            {
                elements.Add(flag ? 1 : 0);
            }
            else if (double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var number) && double.IsFinite(number))
            {
                elements.Add(number);
            }
            else
            {
                reader.Error(DiagnosticCodes.RecipeWrongType, $"A value of input '{name}' must be a number, not '{text}'.", item);
                return false;
            }
        }

        if (elements.Count == 0)
        {
            reader.Error(DiagnosticCodes.RecipeWrongType, $"A value of input '{name}' is an empty list; give one number per element.", node);
            return false;
        }

        values.Add(new PinnedValue(elements, node is YamlSequenceNode, (int)node.Start.Line, (int)node.Start.Column));
        return true;
    }

    /// <summary>
    /// <c>output:</c> names the compressed model relative to where the model goes (its folder in bin, or beside the
    /// model for <c>compress run</c> without <c>-o</c>): a relative path with forward slashes, ending in <c>.onnx</c>,
    /// that cannot leave that folder.
    /// </summary>
    private string? ReadOutput(YamlNode node)
    {
        var text = reader.Scalar(node, "'output'");
        if (text is null)
        {
            return null;
        }

        string? problem =
            text.Length == 0 ? "is empty" :
            !text.EndsWith(".onnx", StringComparison.Ordinal) ? "must end with '.onnx'" :
            text.Contains('\\') ? "must use '/' between folders" :
            text.StartsWith('/') || Path.IsPathRooted(text) || (text.Length > 1 && text[1] == ':') ? "must be relative (it is placed where the model would go)" :
            text.Split('/').Any(s => s is "" or "." or "..") ? "cannot contain '..', '.' or empty folder names (it must stay where the model would go)" :
            text.IndexOfAny(Path.GetInvalidFileNameChars().Where(c => c != '/').ToArray()) >= 0 || text.Any(char.IsControl) ? "contains a character not allowed in a file name" :
            null;
        if (problem is not null)
        {
            reader.Error(DiagnosticCodes.RecipeOutputInvalid, $"'output: {text}' {problem}; write a file name such as 'model-int8.onnx'.", node);
            return null;
        }

        return text;
    }

    // A path, or a mapping of model input name → path (each checked where it is written).
    private DataPath? ReadData(YamlNode node, string key)
    {
        if (node is not YamlMappingNode mapping)
        {
            return ReadDataPath(node, key);
        }

        var inputs = new List<KeyValuePair<string, DataPath>>();
        bool complete = true;
        foreach (var (keyNode, value) in mapping.Children)
        {
            var name = reader.Scalar(keyNode, $"an input name in '{key}'");
            if (name is null)
            {
                complete = false;
                continue;
            }

            if (inputs.Any(i => i.Key == name))
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"'{key}' names input '{name}' twice; keep one.", keyNode);
                complete = false;
                continue;
            }

            if (ReadDataPath(value, $"{key}.{name}") is { } path)
            {
                inputs.Add(new(name, path));
            }
            else
            {
                complete = false;
            }
        }

        if (!complete)
        {
            return null;
        }

        if (inputs.Count == 0)
        {
            reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"'{key}' is an empty mapping; give a data file or folder, or input name: file pairs.", node);
            return null;
        }

        var written = "{ " + string.Join(", ", inputs.Select(i => $"{i.Key}: {i.Value.Written}")) + " }";
        return new DataPath(written, Path.GetFullPath(baseDirectory)) { Inputs = inputs };
    }

    private DataPath? ReadDataPath(YamlNode node, string key)
    {
        var text = reader.Scalar(node, $"'{key}'");
        if (text is null)
        {
            return null;
        }

        var full = Path.GetFullPath(Path.Combine(baseDirectory, text));
        if (!File.Exists(full) && !Directory.Exists(full))
        {
            reader.Error(DiagnosticCodes.RecipeDataNotFound, $"'{key}' names '{text}', which does not exist (looked for {full}).", node);
            return null;
        }

        return new DataPath(text, full);
    }

    private VerifySettings? ReadVerify(YamlNode node)
    {
        if (node is YamlScalarNode { Value: "off" or "false" } && !ValueReader.IsNull(node))
        {
            return VerifySettings.Off;
        }

        if (node is YamlScalarNode { Value: "on" or "true" })
        {
            return new VerifySettings();
        }

        if (node is not YamlMappingNode mapping)
        {
            reader.Error(DiagnosticCodes.RecipeWrongType,
                $"'verify' must be 'off' or a mapping of {string.Join(", ", VerifyKeys)}, not {ValueReader.Describe(node)}.", node);
            return null;
        }

        var settings = new VerifySettings();
        foreach (var (key, value) in Entries(mapping, VerifyKeys, "'verify' setting"))
        {
            settings = key switch
            {
                "min-cosine" => settings with { MinCosine = reader.Float(value, "'min-cosine'", -1, 1) },
                "max-abs-error" => settings with { MaxAbsError = reader.Float(value, "'max-abs-error'", 0, null) },
                "min-snr" => settings with { MinSnrDb = reader.Float(value, "'min-snr'", null, null) },
                "latency" => settings with { Latency = reader.Bool(value, "'latency'") ?? false },
                "threads" => settings with { Threads = reader.Int(value, "'threads'", 0, null) ?? 0 },
                "optimization" => settings with { Optimization = reader.Enum(value, "'optimization'", VerifySettings.OptimizationLevels) ?? "all" },
                "execution-provider" => settings with { ExecutionProvider = reader.Enum(value, "'execution-provider'", VerifySettings.ExecutionProviders) ?? "cpu" },
                _ => settings with { MaxTop1Drop = reader.Ratio(value, "'max-top1-drop'") },
            };
        }

        return settings;
    }

    private void ReadPasses(YamlNode node, RecipeDocument document)
    {
        if (ValueReader.IsNull(node))
        {
            return;
        }

        if (node is not YamlSequenceNode sequence)
        {
            reader.Error(DiagnosticCodes.RecipeWrongType, $"'passes' must be a list ('- pass-name' per line), not {ValueReader.Describe(node)}.", node);
            return;
        }

        foreach (var item in sequence.Children)
        {
            if (ReadPass(item) is { } entry)
            {
                document.Passes.Add(entry);
            }
        }
    }

    private RecipeDocument.PassEntry? ReadPass(YamlNode item)
    {
        YamlNode nameNode;
        YamlNode? parameters = null;
        if (item is YamlMappingNode mapping)
        {
            if (mapping.Children.Count != 1)
            {
                var at = mapping.Children.Count > 1 ? mapping.Children.Keys.ElementAt(1) : mapping;
                reader.Error(DiagnosticCodes.RecipeInvalidStructure,
                    "A pass entry is a name or one 'pass-name:' key with its parameters indented below it; " +
                    $"this entry has {mapping.Children.Count} keys. Indent the parameters under the pass name.", at);
                return null;
            }

            (nameNode, parameters) = mapping.Children.Single();
        }
        else
        {
            nameNode = item;
        }

        var name = reader.Scalar(nameNode, "A pass entry");
        if (name is null)
        {
            return null;
        }

        if (!catalog.TryGet(name, out var pass))
        {
            var names = catalog.Passes.Select(p => p.Name).ToList();
            reader.Error(DiagnosticCodes.RecipeUnknownPass,
                $"Unknown pass '{name}'.{NameSuggestions.DidYouMean(name, names)} Valid passes: {string.Join(", ", names)}.", nameNode);
            return null;
        }

        if (parameters is YamlScalarNode { Value: "off" or "false" } && !ValueReader.IsNull(parameters))
        {
            return new(name, null, Remove: true);
        }

        var values = new List<KeyValuePair<string, object>>();
        var ok = true;
        YamlNode? layers = null;
        if (parameters is not null && !ValueReader.IsNull(parameters))
        {
            if (parameters is not YamlMappingNode parameterMap)
            {
                reader.Error(DiagnosticCodes.RecipeWrongType,
                    $"The parameters of '{name}' must be a mapping (parameter: value) or 'off', not {ValueReader.Describe(parameters)}.", parameters);
                return null;
            }

            ok = ReadParameters(pass, parameterMap, values, forbidden: [], out layers);
        }

        var overrides = layers is null ? [] : ReadLayers(pass, layers, values, ref ok);
        return ok ? new(name, new RecipePass(new PassArguments(pass, values), reader.File, (int)item.Start.Line, (int)item.Start.Column) { Layers = overrides }, Remove: false) : null;
    }

    // Reads `parameter: value` pairs into `values`; `layers:` (weight passes only) is handed back for ReadLayers.
    private bool ReadParameters(PassDescriptor pass, YamlMappingNode parameterMap, List<KeyValuePair<string, object>> values,
        IReadOnlyList<string> forbidden, out YamlNode? layers)
    {
        string name = pass.Name;
        bool ok = true;
        layers = null;
        var valid = pass.Parameters.Select(p => p.Name).ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in parameterMap.Children)
        {
            var key = reader.Scalar(keyNode, "A parameter name");
            if (key is null)
            {
                ok = false;
                continue;
            }

            if (key == "layers" && forbidden.Count == 0)
            {
                if (pass.FindParameter("include") is null)
                {
                    reader.Error(DiagnosticCodes.RecipeUnknownParameter,
                        $"Pass '{name}' does not work layer by layer, so it takes no 'layers:'; weight passes (quantization, pruning) do.", keyNode);
                    ok = false;
                }
                else if (!seen.Add(key))
                {
                    reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"'{name}' parameter '{key}' appears twice; keep one.", keyNode);
                    ok = false;
                }
                else layers = valueNode;
                continue;
            }

            if (forbidden.Contains(key, StringComparer.Ordinal))
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure,
                    $"A layer override selects its layers by its pattern, so it cannot set '{key}'; set it on '{name}' itself.", keyNode);
                ok = false;
                continue;
            }

            if (pass.FindParameter(key) is not { } spec)
            {
                var list = valid.Count == 0 ? $"'{name}' takes no parameters." : $"Parameters of '{name}': {string.Join(", ", valid)}.";
                reader.Error(DiagnosticCodes.RecipeUnknownParameter,
                    $"Pass '{name}' has no parameter '{key}'.{NameSuggestions.DidYouMean(key, valid)} {list}", keyNode);
                ok = false;
                continue;
            }

            if (!seen.Add(key))
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"'{name}' parameter '{key}' appears twice; keep one.", keyNode);
                ok = false;
                continue;
            }

            var value = reader.Parameter(spec, valueNode, name);
            if (value is null)
            {
                ok = false;
                continue;
            }

            values.Add(new(key, value));
        }

        return ok;
    }
}
