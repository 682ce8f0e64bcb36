using System;
using System.Collections.Generic;
using System.IO;

namespace CompressTasks.Build
{
    /// <summary>
    /// A quick read of a recipe's top-level <c>output:</c>, for planning paths before the tool runs. The task has no
    /// YAML parser (it stays dependency-free, see build/README.md), so it reads lines: a line that starts with
    /// <c>output:</c> (or <c>extends:</c>, followed to a base recipe file when the recipe itself has no <c>output:</c>),
    /// a plain or quoted value, an optional <c># comment</c>. The tool parses the recipe for real and fails with CT1016
    /// when its <c>output:</c> differs from what this read, so a recipe written in another YAML style is an error,
    /// never a model under an unexpected name.
    /// </summary>
    internal static class RecipeOutput
    {
        /// <summary>The <c>output:</c> in effect for <paramref name="recipe"/>, or "" when none (or none that can be used as a path).</summary>
        public static string Read(string recipe)
        {
            var visited = new HashSet<string>(StringComparer.Ordinal);
            string path = recipe;
            while (visited.Add(path) && visited.Count <= 16)
            {
                string[] lines;
                try
                {
                    lines = File.ReadAllLines(path);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    return ""; // the tool reports the unreadable recipe with its code
                }
                string? output = null, extends = null;
                foreach (var line in lines)
                {
                    if (line.StartsWith("output:", StringComparison.Ordinal)) output = Value(line.Substring("output:".Length));
                    else if (line.StartsWith("extends:", StringComparison.Ordinal)) extends = Value(line.Substring("extends:".Length));
                }
                if (output is not null) return IsUsable(output) ? output : "";
                if (extends is null || !IsFile(extends)) return "";
                path = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path) ?? "", extends));
            }
            return "";
        }

        /// <summary>The same test as the recipe loader: a relative path ending in .onnx, '/' between folders, no '.' or '..' or empty parts.</summary>
        public static bool IsUsable(string output)
        {
            if (!output.EndsWith(".onnx", StringComparison.Ordinal) || output.IndexOf('\\') >= 0) return false;
            if (output.StartsWith("/", StringComparison.Ordinal) || Path.IsPathRooted(output) || (output.Length > 1 && output[1] == ':')) return false;
            foreach (var part in output.Split('/'))
                if (part.Length == 0 || part == "." || part == "..") return false;
            return true;
        }

        // Same rule as the loader's preset test: a file needs a '/' or a .yaml/.yml extension.
        private static bool IsFile(string extends) =>
            extends.IndexOfAny(new[] { '/', '\\' }) >= 0
            || extends.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase)
            || extends.EndsWith(".yml", StringComparison.OrdinalIgnoreCase);

        private static string Value(string rest)
        {
            string value = rest.Trim();
            if (value.Length >= 2 && (value[0] == '"' || value[0] == '\''))
            {
                int close = value.IndexOf(value[0], 1);
                return close > 0 ? value.Substring(1, close - 1) : value;
            }
            int comment = value.IndexOf(" #", StringComparison.Ordinal);
            if (comment >= 0) value = value.Substring(0, comment).TrimEnd();
            return value is "~" or "null" or "Null" or "NULL" ? "" : value;
        }
    }
}
