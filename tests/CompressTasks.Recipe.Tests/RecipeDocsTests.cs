namespace CompressTasks.Recipe.Tests;

[TestClass]
public sealed class RecipeDocsTests
{
    [TestMethod]
    public void Generate_DocumentsEveryPassAndParameter()
    {
        var docs = RecipeDocs.Generate(TestCatalog.Instance);

        foreach (var pass in TestCatalog.Instance.Passes)
        {
            StringAssert.Contains(docs, $"## `{pass.Name}` ({pass.Kind})");
            foreach (var p in pass.Parameters)
            {
                StringAssert.Contains(docs, $"| `{p.Name}` |");
            }
        }

        StringAssert.Contains(docs, "| `weight-type` | `int8` \\| `uint8` | `int8` | Weight element type. |");
        StringAssert.Contains(docs, "| `min-size` | int in [0, 1000000] | `1024` |");
        StringAssert.Contains(docs, "```yaml\npasses:\n  - fuse-conv-bn: { epsilon: 1e-5 }\n```");
    }
}
