using CompressTasks.Cli.Commands;
using CompressTasks.Diagnostics;

// The `compress` tool: a thin shell over the engine. One file per command under Commands/.
// Exit codes: 0 success, 1 a diagnosed failure (printed in MSBuild's canonical error format), 2 usage error.
var commands = new Dictionary<string, (string Summary, Func<string[], TextWriter, TextWriter, int> Run)>(StringComparer.Ordinal)
{
    ["run"] = ("Compress models with a recipe: one (MODEL -o OUT) or many (--response FILE).", RunCommand.Run),
    ["passes"] = ("List the passes a recipe can use; --schema FILE writes the recipe JSON Schema.", PassesCommand.Run),
    ["inspect"] = ("Show a model's versions, inputs/outputs, operators, parameters and storage.", InspectCommand.Run),
    ["sensitivity"] = ("Try each auto: candidate on each layer alone: cosine and bytes saved per layer.", SensitivityCommand.Run),
    ["tune"] = ("Choose one auto: candidate per layer within the verify budget; writes the resolved recipe.", TuneCommand.Run),
};

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine("usage: compress <command> [options]\n\ncommands:");
    foreach (var (name, (summary, _)) in commands) Console.WriteLine($"  {name,-12} {summary}");
    return args.Length == 0 ? 2 : 0;
}
if (!commands.TryGetValue(args[0], out var command))
{
    Console.Error.WriteLine($"compress: unknown command '{args[0]}'; commands: {string.Join(", ", commands.Keys)}");
    return 2;
}
try
{
    return command.Run(args[1..], Console.Out, Console.Error);
}
catch (CompressTasksException e)
{
    Console.Error.WriteLine(e.ToString());
    return 1;
}
