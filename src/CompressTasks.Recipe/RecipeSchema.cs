using System.Text.Json;
using System.Text.Json.Nodes;
using CompressTasks.Passes.Infrastructure;
using CompressTasks.Recipe.Presets;

namespace CompressTasks.Recipe;

/// <summary>
/// A JSON Schema (draft-07) for <c>compression.yaml</c>, generated from the pass catalog, so editors that
/// honour <c># yaml-language-server: $schema=compression.schema.json</c> complete pass names and parameters.
/// The schema is looser than the loader where JSON Schema cannot say it (percentages above 100%, data paths
/// that must exist); the loader stays the authority.
/// </summary>
public static class RecipeSchema
{
    /// <summary>The schema as indented JSON text.</summary>
    public static string Generate(IPassCatalog catalog) =>
        GenerateNode(catalog).ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>The schema as a JSON tree.</summary>
    public static JsonObject GenerateNode(IPassCatalog catalog)
    {
        var definitions = new JsonObject();
        var entryChoices = new JsonArray
        {
            new JsonObject
            {
                ["description"] = "A pass with its default parameters.",
                ["enum"] = Strings(catalog.Passes.Select(p => p.Name)),
            },
        };
        foreach (var pass in catalog.Passes)
        {
            definitions["pass-" + pass.Name] = PassEntry(pass);
            entryChoices.Add(new JsonObject { ["$ref"] = "#/definitions/pass-" + pass.Name });
        }

        definitions["pass-entry"] = new JsonObject { ["oneOf"] = entryChoices };
        return new JsonObject
        {
            ["$schema"] = "http://json-schema.org/draft-07/schema#",
            ["title"] = "CompressTasks recipe (compression.yaml)",
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["properties"] = new JsonObject
            {
                ["extends"] = new JsonObject
                {
                    ["type"] = "string",
                    ["description"] = "A preset name or a recipe file relative to this one; its passes come first and are overridden by name.",
                    ["examples"] = Strings(RecipePresets.Names),
                },
                ["output"] = new JsonObject
                {
                    ["type"] = "string",
                    ["pattern"] = @"^(?!/)(?!(.*/)?\.\.?/)[^\\]*\.onnx$",
                    ["description"] = "Name of the compressed model where the model would go (bin, publish, pack; beside the model for compress run without -o): a relative path ending in .onnx, without '..'. An OnnxModel item's OutputName wins.",
                },
                ["opset"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1, ["description"] = "Upgrade the model to this default-domain opset before the passes run (convert-opset); absent keeps the model's." },
                ["runtime"] = new JsonObject { ["enum"] = Strings(Recipe.Runtimes), ["default"] = "any", ["description"] = "What the compressed model is for: any (standard ONNX only) or onnxruntime (passes with a domain parameter emit ONNX Runtime's com.microsoft ops unless the entry sets domain)." },
                ["inputs"] = new JsonObject
                {
                    ["type"] = "object",
                    ["description"] = "Input name → pinned shape (input: [1, 3, 224, 224]) or a mapping of shape and pinned value(s) for generated inputs (sr: { values: [8000, 16000] }).",
                    ["additionalProperties"] = new JsonObject
                    {
                        ["oneOf"] = new JsonArray
                        {
                            InputShape(),
                            new JsonObject
                            {
                                ["type"] = "object",
                                ["additionalProperties"] = false,
                                ["properties"] = new JsonObject
                                {
                                    ["shape"] = InputShape(),
                                    ["value"] = PinnedValueSchema("Every generated sample takes this value: a number for every element, or one number per element."),
                                    ["values"] = new JsonObject
                                    {
                                        ["type"] = "array",
                                        ["description"] = "Values cycled across generated samples (sample i takes item i mod count), e.g. [8000, 16000]; not together with value.",
                                        ["items"] = PinnedValueSchema("One sample's value."),
                                    },
                                },
                            },
                        },
                    },
                },
                ["calibration"] = DataSchema("Calibration data: a .npy/.npz/.pb file or a folder, relative to this recipe; or input name → file for models with several inputs."),
                ["evaluation"] = DataSchema("Evaluation data: a .npy/.npz/.pb file or a folder, relative to this recipe; or input name → file for models with several inputs."),
                ["labels"] = Described("string", "Labels file for the evaluation data, relative to this recipe."),
                ["verify"] = new JsonObject
                {
                    ["description"] = "Accuracy budget for the compressed model, or 'off'.",
                    ["oneOf"] = new JsonArray
                    {
                        new JsonObject { ["enum"] = new JsonArray("off", "on", false, true) },
                        new JsonObject
                        {
                            ["type"] = "object",
                            ["additionalProperties"] = false,
                            ["properties"] = new JsonObject
                            {
                                ["min-cosine"] = new JsonObject { ["type"] = "number", ["minimum"] = -1, ["maximum"] = 1, ["description"] = "Lowest cosine similarity of outputs." },
                                ["min-snr"] = new JsonObject { ["type"] = "number", ["description"] = "Lowest signal-to-noise ratio of outputs in dB, 10·log10(‖t‖² / ‖s − t‖²); 40 is a relative error of 1%." },
                                ["max-abs-error"] = new JsonObject { ["type"] = "number", ["minimum"] = 0, ["description"] = "Largest absolute difference of any output element." },
                                ["max-top1-drop"] = Ratio("Largest drop of top-1 accuracy, as 0.01 or \"1%\"."),
                                ["latency"] = new JsonObject { ["type"] = "boolean", ["default"] = false, ["description"] = "Also time original and compressed (median, p90); costs build time." },
                                ["threads"] = new JsonObject { ["type"] = "integer", ["minimum"] = 0, ["default"] = 0, ["description"] = "ONNX Runtime intra-op threads for both sessions; 0 lets ONNX Runtime decide." },
                                ["optimization"] = new JsonObject { ["enum"] = Strings(VerifySettings.OptimizationLevels), ["default"] = "all", ["description"] = "ONNX Runtime graph optimization level; all is the level users run." },
                                ["execution-provider"] = new JsonObject { ["enum"] = Strings(VerifySettings.ExecutionProviders), ["default"] = "cpu", ["description"] = "cpu, or cuda (falls back to CPU when the CUDA provider is not available; the report says which ran)." },
                            },
                        },
                    },
                },
                ["passes"] = new JsonObject
                {
                    ["type"] = new JsonArray("array", "null"),
                    ["description"] = "The passes, in run order.",
                    ["items"] = new JsonObject { ["$ref"] = "#/definitions/pass-entry" },
                },
                ["auto"] = new JsonObject
                {
                    ["type"] = "object",
                    ["additionalProperties"] = false,
                    ["description"] = "Per-layer search (compress tune): one candidate treatment per layer, smallest or fastest within the verify budget.",
                    ["required"] = new JsonArray("candidates"),
                    ["properties"] = new JsonObject
                    {
                        ["objective"] = new JsonObject { ["enum"] = Strings(AutoSettings.Objectives), ["default"] = "size", ["description"] = "What the search minimises." },
                        ["candidates"] = new JsonObject
                        {
                            ["type"] = "array",
                            ["minItems"] = 1,
                            ["description"] = "Weight passes to try on every layer they select.",
                            ["items"] = new JsonObject { ["$ref"] = "#/definitions/pass-entry" },
                        },
                    },
                },
            },
            ["definitions"] = definitions,
        };
    }

    private static JsonObject PassEntry(PassDescriptor pass)
    {
        var parameters = new JsonObject();
        foreach (var p in pass.Parameters)
        {
            parameters[p.Name] = Parameter(p);
        }

        if (pass.FindParameter("include") is not null)
        {
            var overridable = new JsonObject();
            foreach (var p in pass.Parameters.Where(p => !LayerOverride.SelectionParameters.Contains(p.Name)))
            {
                overridable[p.Name] = Parameter(p);
            }

            parameters["layers"] = new JsonObject
            {
                ["description"] = "Per-layer overrides: node or weight name glob → 'skip' or parameters for those layers (the first matching pattern wins).",
                ["type"] = "object",
                ["additionalProperties"] = new JsonObject
                {
                    ["oneOf"] = new JsonArray
                    {
                        new JsonObject { ["const"] = "skip", ["description"] = "Leave these layers as they are." },
                        new JsonObject { ["type"] = "object", ["additionalProperties"] = false, ["properties"] = overridable },
                    },
                },
            };
        }

        return new JsonObject
        {
            ["type"] = "object",
            ["additionalProperties"] = false,
            ["required"] = new JsonArray(pass.Name),
            ["properties"] = new JsonObject
            {
                [pass.Name] = new JsonObject
                {
                    ["description"] = $"{pass.Summary} ({pass.Kind})",
                    ["oneOf"] = new JsonArray
                    {
                        new JsonObject { ["type"] = "null" },
                        new JsonObject { ["enum"] = new JsonArray("off", false), ["description"] = "Remove this pass from the base recipe." },
                        new JsonObject { ["type"] = "object", ["additionalProperties"] = false, ["properties"] = parameters },
                    },
                },
            },
        };
    }

    private static JsonObject Parameter(ParameterSpec p)
    {
        var description = $"{p.Doc} Default: {p.FormatDefault()}.";
        var node = p.Type switch
        {
            ParameterType.Bool => Described("boolean", description),
            ParameterType.Int => Described("integer", description),
            ParameterType.Float => Described("number", description),
            ParameterType.String => Described("string", description),
            ParameterType.Enum => new JsonObject { ["type"] = "string", ["enum"] = Strings(p.AllowedValues), ["description"] = description },
            ParameterType.StringList => new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "string" }, ["description"] = description },
            ParameterType.Ratio => Ratio(description),
            _ => throw new InvalidOperationException($"Unhandled parameter type {p.Type}."),
        };
        if (p.Type is ParameterType.Int or ParameterType.Float)
        {
            if (p.Minimum is { } min)
            {
                node["minimum"] = min;
            }

            if (p.Maximum is { } max)
            {
                node["maximum"] = max;
            }
        }

        // Built by hand rather than with JsonSerializer, which trimmed and AOT hosts (the CLI) may disable.
        node["default"] = p.Default switch
        {
            bool b => JsonValue.Create(b),
            int i => JsonValue.Create(i),
            double d => JsonValue.Create(d),
            string text => JsonValue.Create(text),
            IReadOnlyList<string> list => Strings(list),
            _ => throw new InvalidOperationException($"Unhandled default {p.Default.GetType().Name}."),
        };
        return node;
    }

    private static JsonObject Ratio(string description) => new()
    {
        ["description"] = description,
        ["oneOf"] = new JsonArray
        {
            new JsonObject { ["type"] = "number", ["minimum"] = 0, ["maximum"] = 1 },
            new JsonObject { ["type"] = "string", ["pattern"] = @"^[0-9]+(\.[0-9]+)?\s*%$" },
        },
    };

    private static JsonObject Described(string type, string description) => new() { ["type"] = type, ["description"] = description };

    // A data path, or a mapping of model input name → data file.
    private static JsonObject DataSchema(string description) => new()
    {
        ["description"] = description,
        ["oneOf"] = new JsonArray
        {
            new JsonObject { ["type"] = "string" },
            new JsonObject { ["type"] = "object", ["additionalProperties"] = new JsonObject { ["type"] = "string" } },
        },
    };

    private static JsonArray Strings(IEnumerable<string> values) => [.. values.Select(v => (JsonNode)v)];

    private static JsonObject InputShape() =>
        new() { ["type"] = "array", ["items"] = new JsonObject { ["type"] = "integer", ["minimum"] = 1 } };

    private static JsonObject PinnedValueSchema(string description) => new()
    {
        ["description"] = description,
        ["oneOf"] = new JsonArray
        {
            new JsonObject { ["type"] = new JsonArray { "number", "boolean" } },
            new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["type"] = new JsonArray { "number", "boolean" } } },
        },
    };
}
