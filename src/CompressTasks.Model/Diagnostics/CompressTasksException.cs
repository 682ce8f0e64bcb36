namespace CompressTasks.Diagnostics;

/// <summary>
/// A user-facing failure with a stable code (see <see cref="DiagnosticCodes"/>), the file it is about and,
/// where one applies, a 1-based line and column. The CLI prints it and the MSBuild task turns it into a
/// diagnostic; anything else that escapes is a bug.
/// </summary>
public sealed class CompressTasksException : Exception
{
    public CompressTasksException(string code, string message, string? file = null, int line = 0, int column = 0, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        File = file;
        Line = line;
        Column = column;
    }

    /// <summary>The stable diagnostic code, e.g. <c>CT0102</c>.</summary>
    public string Code { get; }

    /// <summary>The file the message is about (model, external data file or recipe), if any.</summary>
    public string? File { get; }

    /// <summary>1-based line in <see cref="File"/>, or 0 when not applicable.</summary>
    public int Line { get; }

    /// <summary>1-based column in <see cref="File"/>, or 0 when not applicable.</summary>
    public int Column { get; }

    /// <summary>The canonical one-line form, as MSBuild and compilers print it: <c>file(line,col): error CODE: message</c>.</summary>
    public override string ToString()
    {
        var where = File is null ? "" : Line > 0 ? $"{File}({Line},{Column}): " : $"{File}: ";
        return $"{where}error {Code}: {Message}";
    }
}
