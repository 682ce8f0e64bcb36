using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CompressTasks.Recipe.Tests;

/// <summary>
/// Just enough JSON Schema (draft-07) to check recipes against <see cref="RecipeSchema"/>: type, enum,
/// properties, required, additionalProperties, items, oneOf, $ref to local definitions, minimum, maximum,
/// pattern. Keywords it does not know fail loudly, so the schema cannot silently outgrow it.
/// </summary>
internal sealed class SchemaChecker(JsonObject root)
{
    private static readonly HashSet<string> Annotations = ["$schema", "title", "description", "default", "examples"];

    /// <summary>The paths and reasons of every mismatch; empty when <paramref name="value"/> conforms.</summary>
    public List<string> Check(JsonNode? value)
    {
        var errors = new List<string>();
        Check(root, value, "$", errors);
        return errors;
    }

    private void Check(JsonObject schema, JsonNode? value, string at, List<string> errors)
    {
        foreach (var (keyword, argument) in schema)
        {
            switch (keyword)
            {
                case "$ref":
                    var name = ((string)argument!)["#/definitions/".Length..];
                    Check(root["definitions"]![name]!.AsObject(), value, at, errors);
                    break;
                case "type":
                    var types = argument is JsonArray list ? list.Select(t => (string)t!).ToList() : [(string)argument!];
                    if (!types.Any(t => IsType(value, t)))
                    {
                        errors.Add($"{at}: {Describe(value)} is not {string.Join("/", types)}");
                    }

                    break;
                case "enum":
                    if (!argument!.AsArray().Any(a => JsonNode.DeepEquals(a, value)))
                    {
                        errors.Add($"{at}: {Describe(value)} is not one of {argument.ToJsonString()}");
                    }

                    break;
                case "properties":
                    if (value is JsonObject properties)
                    {
                        foreach (var (key, sub) in argument!.AsObject())
                        {
                            if (properties.ContainsKey(key))
                            {
                                Check(sub!.AsObject(), properties[key], $"{at}.{key}", errors);
                            }
                        }
                    }

                    break;
                case "required":
                    if (value is JsonObject required)
                    {
                        errors.AddRange(argument!.AsArray().Select(r => (string)r!).Where(r => !required.ContainsKey(r)).Select(r => $"{at}: missing {r}"));
                    }

                    break;
                case "additionalProperties":
                    if (value is JsonObject additional)
                    {
                        var declared = schema["properties"]?.AsObject();
                        foreach (var (key, sub) in additional)
                        {
                            if (declared?.ContainsKey(key) == true)
                            {
                                continue;
                            }

                            if (argument is JsonObject subSchema)
                            {
                                Check(subSchema, sub, $"{at}.{key}", errors);
                            }
                            else if (argument!.GetValue<bool>() == false)
                            {
                                errors.Add($"{at}: property '{key}' is not allowed");
                            }
                        }
                    }

                    break;
                case "items":
                    if (value is JsonArray items)
                    {
                        for (var i = 0; i < items.Count; i++)
                        {
                            Check(argument!.AsObject(), items[i], $"{at}[{i}]", errors);
                        }
                    }

                    break;
                case "oneOf":
                    var matches = argument!.AsArray().Count(s =>
                    {
                        var sub = new List<string>();
                        Check(s!.AsObject(), value, at, sub);
                        return sub.Count == 0;
                    });
                    if (matches != 1)
                    {
                        errors.Add($"{at}: {Describe(value)} matches {matches} of oneOf, not exactly 1");
                    }

                    break;
                case "minimum":
                    if (IsType(value, "number") && Number(value) < Number(argument))
                    {
                        errors.Add($"{at}: {Describe(value)} < {argument}");
                    }

                    break;
                case "maximum":
                    if (IsType(value, "number") && Number(value) > Number(argument))
                    {
                        errors.Add($"{at}: {Describe(value)} > {argument}");
                    }

                    break;
                case "pattern":
                    if (value is JsonValue v && v.TryGetValue<string>(out var text) && !Regex.IsMatch(text, (string)argument!))
                    {
                        errors.Add($"{at}: '{text}' does not match {argument}");
                    }

                    break;
                case "definitions":
                case var annotation when Annotations.Contains(annotation):
                    break;
                default:
                    throw new NotSupportedException($"SchemaChecker does not know keyword '{keyword}' (at {at}).");
            }
        }
    }

    private static bool IsType(JsonNode? value, string type) => type switch
    {
        "null" => value is null,
        "object" => value is JsonObject,
        "array" => value is JsonArray,
        "string" => value is JsonValue s && s.TryGetValue<string>(out _),
        "boolean" => value is JsonValue b && b.TryGetValue<bool>(out _),
        "number" => value is JsonValue n && n.GetValueKind() == System.Text.Json.JsonValueKind.Number,
        "integer" => IsType(value, "number") && Number(value) == Math.Floor(Number(value)),
        _ => throw new NotSupportedException($"Unknown type '{type}'."),
    };

    private static double Number(JsonNode? value) => double.Parse(value!.ToJsonString(), CultureInfo.InvariantCulture);

    private static string Describe(JsonNode? value) => value?.ToJsonString() ?? "null";

    /// <summary>
    /// YAML to JSON the way yaml-language-server sees it: plain scalars resolve by the YAML 1.2 core schema
    /// (null, booleans, integers, floats), quoted scalars stay strings.
    /// </summary>
    public static JsonNode? YamlToJson(string yaml)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(yaml));
        return stream.Documents.Count == 0 ? null : Convert(stream.Documents[0].RootNode);
    }

    private static JsonNode? Convert(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, Convert(kv.Value)))),
        YamlSequenceNode s => new JsonArray([.. s.Children.Select(Convert)]),
        YamlScalarNode { Style: ScalarStyle.Plain } p => Plain(p.Value ?? ""),
        YamlScalarNode q => JsonValue.Create(q.Value ?? ""),
        _ => throw new NotSupportedException(node.GetType().Name),
    };

    private static JsonNode? Plain(string text)
    {
        if (text is "" or "~" or "null" or "Null" or "NULL")
        {
            return null;
        }

        if (text is "true" or "True" or "TRUE" or "false" or "False" or "FALSE")
        {
            return JsonValue.Create(char.ToLowerInvariant(text[0]) == 't');
        }

        if (Regex.IsMatch(text, "^[-+]?[0-9]+$"))
        {
            return JsonValue.Create(long.Parse(text, CultureInfo.InvariantCulture));
        }

        if (Regex.IsMatch(text, @"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$"))
        {
            return JsonValue.Create(double.Parse(text, CultureInfo.InvariantCulture));
        }

        return JsonValue.Create(text);
    }
}
