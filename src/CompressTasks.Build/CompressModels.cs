using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace CompressTasks.Build
{
    /// <summary>
    /// Compresses every model in <see cref="Models"/> by running the bundled CLI once:
    /// <c>dotnet exec compress.dll run --response FILE</c>, one JSON job per model in FILE.
    /// </summary>
    /// <remarks>
    /// The CLI prints one summary line per model on stdout and canonical
    /// <c>file(line,col): error CTxxxx: message</c> lines on stderr; those become MSBuild errors with code, file,
    /// line and column. Why out of process: see build/README.md.
    /// </remarks>
    public sealed class CompressModels : ToolTask
    {
        // file(line,col): error CT1234: message   |   file: error CT1234: message   |   error CT1234: message
        // Must match RunCommand.ProgressPrefix in the CLI.
        private const string ProgressPrefix = "progress: ";

        private static readonly Regex Canonical = new Regex(
            @"^(?:(?<file>.+?)(?:\((?<line>\d+)(?:,(?<col>\d+))?\))?: )?(?<kind>error|warning) (?<code>CT\d{4}): (?<message>.*)$",
            RegexOptions.CultureInvariant);

        private bool _loggedDiagnostics;

        /// <summary>
        /// The models to compress. Metadata: <c>CompressedPath</c> (required), <c>Recipe</c>, <c>ReportDirectory</c>,
        /// <c>Verify</c>, <c>Latency</c> (true/false/empty), <c>DependencyFile</c>, <c>CheckRecipeOutput</c> + <c>RecipeOutput</c>.
        /// </summary>
        [Required]
        public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>Path of <c>compress.dll</c>.</summary>
        [Required]
        public string ToolAssembly { get; set; } = "";

        /// <summary>
        /// The dotnet host: <c>$(DOTNET_HOST_PATH)</c>, which `dotnet build` sets, else <c>$(NetCoreRoot)dotnet</c>
        /// (desktop MSBuild sets no DOTNET_HOST_PATH).
        /// </summary>
        public string? DotnetHostPath { get; set; }

        /// <summary>
        /// The engine's result cache folder (<c>$(CompressTasksCacheDir)</c>), passed to every job as <c>cacheDir</c>;
        /// empty for none. A tool that has no cache ignores it.
        /// </summary>
        public string? CacheDirectory { get; set; }

        protected override string ToolName =>
            Environment.OSVersion.Platform == PlatformID.Win32NT ? "dotnet.exe" : "dotnet";

        // Summaries are the point of the step: show them at normal verbosity.
        protected override MessageImportance StandardOutputLoggingImportance => MessageImportance.High;

        protected override MessageImportance StandardErrorLoggingImportance => MessageImportance.High;

        protected override Encoding ResponseFileEncoding => new UTF8Encoding(false);

        protected override string GenerateFullPathToTool() =>
            !string.IsNullOrEmpty(DotnetHostPath) ? DotnetHostPath! : ToolName;

        protected override bool ValidateParameters()
        {
            if (!File.Exists(ToolAssembly))
            {
                Log.LogError(null, "CT9003", null, ToolAssembly, 0, 0, 0, 0, "the compress tool was not found; the CompressTasks package is incomplete");
                return false;
            }
            foreach (var model in Models)
            {
                if (string.IsNullOrEmpty(model.GetMetadata("CompressedPath")))
                {
                    Log.LogError(null, "CT9001", null, model.ItemSpec, 0, 0, 0, 0, "the OnnxModel item has no CompressedPath metadata");
                    return false;
                }
            }
            return base.ValidateParameters();
        }

        protected override string GenerateCommandLineCommands() => "exec \"" + ToolAssembly + "\" run";

        protected override string GetResponseFileSwitch(string responseFilePath) => "--response \"" + responseFilePath + "\"";

        /// <summary>One JSON object per line: {"model":…,"output":…,"recipe":…,"reportDir":…,"cacheDir":…,"verify":…,"latency":…,"expectOutput":…,"depsFile":…}.</summary>
        protected override string GenerateResponseFileCommands()
        {
            var text = new StringBuilder();
            foreach (var model in Models)
            {
                text.Append("{\"model\":").Append(Json(model.GetMetadata("FullPath")));
                text.Append(",\"output\":").Append(Json(Path.GetFullPath(model.GetMetadata("CompressedPath"))));
                string recipe = model.GetMetadata("Recipe");
                if (recipe.Length > 0) text.Append(",\"recipe\":").Append(Json(Path.GetFullPath(recipe)));
                string reportDir = model.GetMetadata("ReportDirectory");
                if (reportDir.Length > 0) text.Append(",\"reportDir\":").Append(Json(Path.GetFullPath(reportDir)));
                if (!string.IsNullOrEmpty(CacheDirectory)) text.Append(",\"cacheDir\":").Append(Json(Path.GetFullPath(CacheDirectory)));
                string verify = model.GetMetadata("Verify");
                if (string.Equals(verify, "true", StringComparison.OrdinalIgnoreCase)) text.Append(",\"verify\":true");
                else if (string.Equals(verify, "false", StringComparison.OrdinalIgnoreCase)) text.Append(",\"verify\":false");
                string latency = model.GetMetadata("Latency");
                if (string.Equals(latency, "true", StringComparison.OrdinalIgnoreCase)) text.Append(",\"latency\":true");
                else if (string.Equals(latency, "false", StringComparison.OrdinalIgnoreCase)) text.Append(",\"latency\":false");
                // The name PlanModels took from the recipe's output: (checked by the tool), and where the tool lists
                // the files the result depends on for the next build's Inputs.
                if (model.GetMetadata("CheckRecipeOutput") == "true") text.Append(",\"expectOutput\":").Append(Json(model.GetMetadata("RecipeOutput")));
                string deps = model.GetMetadata("DependencyFile");
                if (deps.Length > 0) text.Append(",\"depsFile\":").Append(Json(Path.GetFullPath(deps)));
                text.Append("}\n");
            }
            return text.ToString();
        }

        protected override void LogEventsFromTextOutput(string singleLine, MessageImportance messageImportance)
        {
            // Progress of long steps ("progress: model.onnx: pass fuse-conv-bn"): normal importance, so it shows at
            // normal verbosity without crowding minimal, where only the summaries (high importance) appear.
            if (singleLine.StartsWith(ProgressPrefix, StringComparison.Ordinal))
            {
                Log.LogMessage(MessageImportance.Normal, singleLine.Substring(ProgressPrefix.Length));
                return;
            }
            var match = Canonical.Match(singleLine.Trim());
            if (!match.Success)
            {
                base.LogEventsFromTextOutput(singleLine, messageImportance);
                return;
            }
            _loggedDiagnostics = true;
            string? file = match.Groups["file"].Success ? match.Groups["file"].Value : null;
            int line = match.Groups["line"].Success ? int.Parse(match.Groups["line"].Value) : 0;
            int column = match.Groups["col"].Success ? int.Parse(match.Groups["col"].Value) : 0;
            string code = match.Groups["code"].Value, message = match.Groups["message"].Value;
            if (match.Groups["kind"].Value == "error")
                Log.LogError(null, code, null, file, line, column, 0, 0, message);
            else
                Log.LogWarning(null, code, null, file, line, column, 0, 0, message);
        }

        protected override bool HandleTaskExecutionErrors()
        {
            if (_loggedDiagnostics && Log.HasLoggedErrors) return false;
            Log.LogError(null, "CT9002", null, ToolAssembly, 0, 0, 0, 0,
                "the compress tool exited with code " + ExitCode + " without reporting an error; run the build with -v:d to see its output");
            return false;
        }

        private static string Json(string value)
        {
            var s = new StringBuilder(value.Length + 2).Append('"');
            foreach (char c in value)
            {
                switch (c)
                {
                    case '"': s.Append("\\\""); break;
                    case '\\': s.Append("\\\\"); break;
                    default:
                        if (c < ' ') s.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
                        else s.Append(c);
                        break;
                }
            }
            return s.Append('"').ToString();
        }
    }
}
