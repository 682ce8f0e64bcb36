namespace CompressTasks.Passes.Infrastructure;

/// <summary>An <see cref="IPassCatalog"/> over a fixed, ordered list of descriptors.</summary>
public sealed class PassCatalog : IPassCatalog
{
    private readonly Dictionary<string, PassDescriptor> _byName;

    /// <summary>Creates the catalog; throws when two descriptors share a name.</summary>
    public PassCatalog(IEnumerable<PassDescriptor> passes)
    {
        Passes = [.. passes];
        _byName = new Dictionary<string, PassDescriptor>(StringComparer.Ordinal);
        foreach (var pass in Passes)
        {
            if (!_byName.TryAdd(pass.Name, pass))
            {
                throw new ArgumentException($"Two passes are named '{pass.Name}'.", nameof(passes));
            }
        }
    }

    /// <inheritdoc/>
    public IReadOnlyList<PassDescriptor> Passes { get; }

    /// <inheritdoc/>
    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PassDescriptor? pass) =>
        _byName.TryGetValue(name, out pass);
}
