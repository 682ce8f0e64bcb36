using YamlDotNet.Core;

namespace CompressTasks.Recipe;

/// <summary>One recipe file as written, before <c>extends:</c> is applied. Internal to the loader.</summary>
internal sealed class RecipeDocument
{
    public required string File { get; init; }

    public string? Extends { get; set; }

    public Mark ExtendsMark { get; set; }

    public List<PassEntry> Passes { get; } = [];

    public string? Output { get; set; }

    public RecipeLocation? OutputLocation { get; set; }

    public int? Opset { get; set; }

    public string? Runtime { get; set; }

    public List<KeyValuePair<string, IReadOnlyList<int>>> Inputs { get; } = [];

    /// <summary>Every input name under <c>inputs:</c>, shape or values or both (an entry replaces its base's whole).</summary>
    public List<string> InputNames { get; } = [];

    public List<PinnedInput> InputValues { get; } = [];

    public VerifySettings? Verify { get; set; }

    public RecipeLocation? VerifyLocation { get; set; }

    public DataPath? Calibration { get; set; }

    public DataPath? Evaluation { get; set; }

    public DataPath? Labels { get; set; }

    public AutoSettings? Auto { get; set; }

    /// <summary>
    /// A <c>passes:</c> entry: a pass to run, or (<see cref="Remove"/>) <c>- name: off</c>, which drops the
    /// base recipe's entry of that name.
    /// </summary>
    internal sealed record PassEntry(string Name, RecipePass? Pass, bool Remove);
}
