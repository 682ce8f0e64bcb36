using CompressTasks.Passes;
using CompressTasks.Recipe;

namespace CompressTasks.Cli.Commands;

/// <summary>
/// <c>compress passes [--schema FILE] [--markdown]</c>: lists the passes recipes can use with their parameters,
/// writes the recipe JSON Schema for editor completion, or prints the Markdown reference. All three come from
/// the same pass declarations.
/// </summary>
internal static class PassesCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var catalog = PassRegistry.Catalog;
        if (args is ["--schema", var file])
        {
            File.WriteAllText(file, RecipeSchema.Generate(catalog));
            stdout.WriteLine($"wrote {file}; add '# yaml-language-server: $schema={file}' to the top of compression.yaml");
            return 0;
        }
        if (args is ["--markdown"])
        {
            stdout.Write(RecipeDocs.Generate(catalog));
            return 0;
        }
        if (args.Length > 0)
        {
            stderr.WriteLine("usage: compress passes [--schema FILE | --markdown]");
            return 2;
        }
        foreach (var pass in catalog.Passes)
        {
            stdout.WriteLine($"{pass.Name,-22} {pass.Kind,-14} {pass.Summary}");
            foreach (var p in pass.Parameters)
                stdout.WriteLine($"    {p.Name,-20} {p.Type,-10} default {p.FormatDefault(),-8} {p.Doc}");
        }
        return 0;
    }
}
