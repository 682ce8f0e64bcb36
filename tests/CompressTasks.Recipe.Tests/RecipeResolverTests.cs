namespace CompressTasks.Recipe.Tests;

[TestClass]
public sealed class RecipeResolverTests
{
    [TestMethod]
    [DataRow(new[] { "m.compression.yaml", "compression.yaml" }, "m.compression.yaml")]
    [DataRow(new[] { "compression.yaml" }, "compression.yaml")]
    [DataRow(new[] { "other.compression.yaml" }, null)]
    [DataRow(new string[0], null)]
    public void FindRecipeFor_PrefersModelSpecific_ThenShared_ThenNone(string[] present, string? expected)
    {
        using var dir = new TempDir();
        foreach (var name in present)
        {
            dir.Write(name, "passes: []\n");
        }

        var found = RecipeResolver.FindRecipeFor(Path.Combine(dir.Path, "m.onnx"));

        Assert.AreEqual(expected is null ? null : Path.Combine(dir.Path, expected), found);
    }
}
