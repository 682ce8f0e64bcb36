using CompressTasks.Diagnostics;
using CompressTasks.Passes.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace CompressTasks.Recipe;

/// <summary>The layer-wise parts of a recipe: a weight pass's <c>layers:</c> overrides and the <c>auto:</c> search.</summary>
internal sealed partial class RecipeParser
{
    private AutoSettings? ReadAuto(YamlNode node)
    {
        if (node is not YamlMappingNode mapping)
        {
            reader.Error(DiagnosticCodes.RecipeWrongType,
                $"'auto' must be a mapping of {string.Join(", ", AutoSettings.Keys)}, not {ValueReader.Describe(node)}.", node);
            return null;
        }

        string objective = "size";
        var candidates = new List<TuneCandidate>();
        bool ok = true;
        foreach (var (key, value) in Entries(mapping, AutoSettings.Keys, "'auto' setting"))
        {
            if (key == "objective")
            {
                objective = reader.Enum(value, "'objective'", AutoSettings.Objectives) ?? objective;
                continue;
            }

            if (value is not YamlSequenceNode sequence)
            {
                reader.Error(DiagnosticCodes.RecipeWrongType, $"'candidates' must be a list of weight passes, not {ValueReader.Describe(value)}.", value);
                ok = false;
                continue;
            }

            foreach (var item in sequence.Children)
            {
                // A list is a sequence of passes applied to the same layer: one treatment.
                var items = item is YamlSequenceNode steps ? steps.Children : [item];
                if (items.Count == 0)
                {
                    reader.Error(DiagnosticCodes.RecipeInvalidStructure, "A combined candidate lists the passes to apply in order, such as [prune-magnitude, quantize-weights-int8]; this one is empty.", item);
                    ok = false;
                    continue;
                }

                var passes = new List<RecipePass>();
                foreach (var step in items)
                {
                    if (ReadCandidateStep(step) is { } pass)
                    {
                        passes.Add(pass);
                    }
                    else
                    {
                        ok = false;
                    }
                }

                if (passes.Count == items.Count)
                {
                    candidates.Add(new TuneCandidate(passes));
                }
            }
        }

        if (ok && candidates.Count == 0)
        {
            reader.Error(DiagnosticCodes.RecipeInvalidStructure, "'auto' needs at least one entry under 'candidates'.", node);
            return null;
        }

        return ok ? new AutoSettings(objective, candidates, (int)node.Start.Line, (int)node.Start.Column) : null;
    }

    // One pass of a candidate: a weight pass (it works layer by layer), not '- name: off'.
    private RecipePass? ReadCandidateStep(YamlNode item)
    {
        var entry = ReadPass(item);
        if (entry?.Pass is not { } pass)
        {
            if (entry is not null)
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"A candidate is a pass to try; '{entry.Name}: off' removes nothing here.", item);
            }

            return null;
        }

        if (pass.Arguments.Pass.FindParameter("include") is null)
        {
            reader.Error(DiagnosticCodes.RecipeInvalidStructure,
                $"Candidate '{pass.Name}' does not work layer by layer; candidates are weight passes (quantization, pruning).", item);
            return null;
        }

        return pass;
    }

    // `layers: { "glob": skip | { parameter: value, ... } }`: each override starts from the entry's own values.
    private List<LayerOverride> ReadLayers(PassDescriptor pass, YamlNode node, List<KeyValuePair<string, object>> baseValues, ref bool ok)
    {
        var overrides = new List<LayerOverride>();
        if (node is not YamlMappingNode map)
        {
            reader.Error(DiagnosticCodes.RecipeWrongType,
                $"'layers' of '{pass.Name}' must be a mapping of name patterns to 'skip' or to parameters, not {ValueReader.Describe(node)}.", node);
            ok = false;
            return overrides;
        }

        var patterns = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (patternNode, valueNode) in map.Children)
        {
            var pattern = reader.Scalar(patternNode, "A layer pattern");
            if (pattern is null || pattern.Length == 0)
            {
                ok = false;
                continue;
            }

            if (!patterns.Add(pattern))
            {
                reader.Error(DiagnosticCodes.RecipeInvalidStructure, $"Layer pattern '{pattern}' appears twice under '{pass.Name}'; keep one.", patternNode);
                ok = false;
                continue;
            }

            PassArguments? arguments = null;
            if (valueNode is YamlScalarNode { Value: "skip" } && !ValueReader.IsNull(valueNode))
            {
            }
            else if (valueNode is YamlMappingNode parameterMap)
            {
                var values = new List<KeyValuePair<string, object>>();
                if (!ReadParameters(pass, parameterMap, values, LayerOverride.SelectionParameters, out _))
                {
                    ok = false;
                    continue;
                }

                var merged = baseValues.Where(kv => !values.Any(v => v.Key == kv.Key) && !LayerOverride.SelectionParameters.Contains(kv.Key)).Concat(values);
                arguments = new PassArguments(pass, merged);
            }
            else
            {
                reader.Error(DiagnosticCodes.RecipeWrongType,
                    $"Layer pattern '{pattern}' of '{pass.Name}' takes 'skip' or a mapping of parameters, not {ValueReader.Describe(valueNode)}.", valueNode);
                ok = false;
                continue;
            }

            overrides.Add(new LayerOverride(pattern, arguments, reader.File, (int)patternNode.Start.Line, (int)patternNode.Start.Column));
        }

        return overrides;
    }
}
