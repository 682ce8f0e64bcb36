namespace CompressTasks.Passes.Infrastructure;

/// <summary>The passes a recipe may name. The pass registry implements it; tests use small fakes.</summary>
public interface IPassCatalog
{
    /// <summary>Every pass, in the catalog's documented order.</summary>
    IReadOnlyList<PassDescriptor> Passes { get; }

    /// <summary>Looks a pass up by its exact kebab-case name.</summary>
    bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PassDescriptor? pass);
}
