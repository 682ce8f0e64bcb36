namespace CompressTasks.Cli.Commands;

/// <summary><c>compress inspect MODEL</c>.</summary>
internal static class InspectCommand
{
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        stderr.WriteLine("compress inspect: not implemented yet");
        return 2;
    }
}
