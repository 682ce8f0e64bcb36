using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

namespace CompressTasks.Build
{
    /// <summary>
    /// Decides which models a project compresses, where each compressed file goes, and how the copy items
    /// (<c>None</c>/<c>Content</c>) change so that bin, publish and pack get the compressed file instead of the original.
    /// Pure bookkeeping over items: it touches no files, so it runs on every build (even a no-op one).
    /// </summary>
    /// <remarks>
    /// A model's target path (its path under bin/publish) is the copy item's <c>TargetPath</c> or <c>Link</c>, else its
    /// path relative to the project, else its file name (as <c>AssignTargetPath</c> does), with the file name replaced by
    /// <c>OutputName</c> when set, else by the recipe's <c>output:</c>. The compressed file is
    /// <c>OutputDirectory/&lt;target path&gt;</c>, which is unique because two files cannot share a target path in bin either.
    /// <para>Besides recipes, it reads each model's dependency file (<c>&lt;compressed&gt;.inputs</c>, written by the
    /// tool after a success: the base recipes and data files the result depends on) so the compression target can list
    /// them as <c>Inputs</c>, the way Grpc.Tools reads the dependency files protoc writes.</para>
    /// </remarks>
    public sealed class PlanModels : Task
    {
        /// <summary>Explicit <c>OnnxModel</c> items; metadata <c>Recipe</c>, <c>OutputName</c>, <c>Verify</c>, optional copy metadata.</summary>
        public ITaskItem[] ExplicitModels { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>Default-item candidates (<c>**/*.onnx</c>); kept only when a recipe lies beside them.</summary>
        public ITaskItem[] CandidateModels { get; set; } = Array.Empty<ITaskItem>();

        public ITaskItem[] NoneItems { get; set; } = Array.Empty<ITaskItem>();

        public ITaskItem[] ContentItems { get; set; } = Array.Empty<ITaskItem>();

        [Required]
        public string ProjectDirectory { get; set; } = "";

        /// <summary>Where compressed models go, e.g. <c>obj/Debug/net10.0/compress/</c>.</summary>
        [Required]
        public string OutputDirectory { get; set; } = "";

        /// <summary>Where reports go (mirroring target paths).</summary>
        [Required]
        public string ReportDirectory { get; set; } = "";

        /// <summary>Default for the <c>Verify</c> metadata: true, false or empty (the recipe decides).</summary>
        public string? Verify { get; set; }

        /// <summary>The build configuration: <c>compression.&lt;Configuration&gt;.yaml</c> beside a model wins over <c>compression.yaml</c>.</summary>
        public string? Configuration { get; set; }

        /// <summary>Default for the <c>Latency</c> metadata: true, false or empty (the recipe's <c>verify: latency</c> decides).</summary>
        public string? Latency { get; set; }

        /// <summary>Every model to compress, with <c>CompressedPath</c>, <c>Recipe</c> (full path or empty), <c>ReportDirectory</c>, <c>ReportPath</c>, <c>Verify</c>, <c>OutputTargetPath</c> (not TargetPath: items derived from these must not inherit a copy destination).</summary>
        [Output]
        public ITaskItem[] Models { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>
        /// The files besides models and recipes whose change makes the compressed models stale: each model's base
        /// recipes and data files as its dependency file lists them, every file now in a listed data folder, and, where
        /// a compressed model exists without a dependency file, that (missing) file's path, so the target runs.
        /// </summary>
        [Output]
        public ITaskItem[] DataInputs { get; private set; } = Array.Empty<ITaskItem>();

        [Output]
        public ITaskItem[] NoneToRemove { get; private set; } = Array.Empty<ITaskItem>();

        [Output]
        public ITaskItem[] NoneToAdd { get; private set; } = Array.Empty<ITaskItem>();

        [Output]
        public ITaskItem[] ContentToRemove { get; private set; } = Array.Empty<ITaskItem>();

        [Output]
        public ITaskItem[] ContentToAdd { get; private set; } = Array.Empty<ITaskItem>();

        private static readonly StringComparer PathComparer =
            Path.DirectorySeparatorChar == '\\' ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

        public override bool Execute()
        {
            string projectDir = EnsureSlash(Path.GetFullPath(ProjectDirectory));
            var none = Index(NoneItems);
            var content = Index(ContentItems);
            var seen = new HashSet<string>(PathComparer);
            var models = new List<ITaskItem>();
            var noneRemove = new List<ITaskItem>();
            var noneAdd = new List<ITaskItem>();
            var contentRemove = new List<ITaskItem>();
            var contentAdd = new List<ITaskItem>();
            var targets = new Dictionary<string, string>(PathComparer);
            var dataInputs = new List<ITaskItem>();
            var dataSeen = new HashSet<string>(PathComparer);

            foreach (var (item, isExplicit) in All())
            {
                string full = Path.GetFullPath(Path.Combine(projectDir, item.ItemSpec));
                if (!seen.Add(full)) continue;

                string recipe = item.GetMetadata("Recipe");
                if (recipe.Length > 0)
                {
                    recipe = Path.GetFullPath(Path.Combine(projectDir, recipe));
                    if (!File.Exists(recipe))
                    {
                        Log.LogError(null, "CT9004", null, item.GetMetadata("DefiningProjectFullPath") is { Length: > 0 } p ? p : full, 0, 0, 0, 0,
                            "the recipe '{0}' named by OnnxModel '{1}' does not exist", recipe, item.ItemSpec);
                        continue;
                    }
                }
                else
                {
                    recipe = FindRecipe(full);
                    if (recipe.Length == 0 && !isExplicit) continue; // default items need a recipe beside them
                }

                ITaskItem? copy = null;
                bool isContent = false;
                if (none.TryGetValue(full, out var n)) { copy = n; }
                else if (content.TryGetValue(full, out var c)) { copy = c; isContent = true; }

                string targetPath = First(item.GetMetadata("TargetPath"), item.GetMetadata("Link"),
                    copy?.GetMetadata("TargetPath"), copy?.GetMetadata("Link"));
                if (targetPath.Length == 0)
                    targetPath = full.StartsWith(projectDir, PathComparer == StringComparer.Ordinal ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase)
                        ? full.Substring(projectDir.Length) : Path.GetFileName(full);
                string outputName = item.GetMetadata("OutputName");
                // Without an OutputName the recipe's output: renames the model where it lands; the tool checks that
                // its own parse of the recipe agrees with this quick read (CT1016).
                string recipeOutput = outputName.Length == 0 && recipe.Length > 0 ? RecipeOutput.Read(recipe) : "";
                if (outputName.Length == 0) outputName = recipeOutput;
                if (outputName.Length > 0) targetPath = Path.Combine(Path.GetDirectoryName(targetPath) ?? "", outputName);
                targetPath = targetPath.Replace('\\', '/').TrimStart('/');
                if (targets.TryGetValue(targetPath, out var other))
                {
                    Log.LogError(null, "CT9005", null, full, 0, 0, 0, 0,
                        "models '{0}' and '{1}' would both be written to '{2}'; give one an OutputName or a Link", other, full, targetPath);
                    continue;
                }
                targets.Add(targetPath, full);

                string compressed = Path.GetFullPath(Path.Combine(OutputDirectory, targetPath));
                string reportDir = EnsureSlash(Path.GetFullPath(Path.Combine(ReportDirectory, Path.GetDirectoryName(targetPath) ?? "")));
                var model = new TaskItem(full);
                model.SetMetadata("Recipe", recipe);
                model.SetMetadata("CompressedPath", compressed);
                model.SetMetadata("ReportDirectory", reportDir);
                model.SetMetadata("ReportPath", reportDir + Path.GetFileName(compressed) + ".report.json");
                model.SetMetadata("OutputTargetPath", targetPath);
                model.SetMetadata("Verify", First(item.GetMetadata("Verify"), Verify));
                model.SetMetadata("Latency", First(item.GetMetadata("Latency"), Latency));
                model.SetMetadata("DependencyFile", compressed + ".inputs");
                if (item.GetMetadata("OutputName").Length == 0 && recipe.Length > 0)
                {
                    model.SetMetadata("CheckRecipeOutput", "true");
                    model.SetMetadata("RecipeOutput", recipeOutput);
                }
                models.Add(model);
                foreach (var input in Dependencies(compressed))
                    if (dataSeen.Add(input)) dataInputs.Add(new TaskItem(input));

                // The replacement keeps every piece of copy metadata of the original (CopyToOutputDirectory,
                // CopyToPublishDirectory, Pack, PackagePath, ...) and pins its path in the output with Link.
                var replacement = new TaskItem(compressed);
                (copy ?? item).CopyMetadataTo(replacement);
                replacement.RemoveMetadata("TargetPath");
                replacement.SetMetadata("Link", targetPath);
                replacement.SetMetadata("CompressTasksOriginal", full);
                if (copy is null)
                {
                    if (replacement.GetMetadata("CopyToOutputDirectory").Length == 0) replacement.SetMetadata("CopyToOutputDirectory", "PreserveNewest");
                    if (replacement.GetMetadata("CopyToPublishDirectory").Length == 0) replacement.SetMetadata("CopyToPublishDirectory", "PreserveNewest");
                    noneAdd.Add(replacement);
                }
                else if (isContent) { contentRemove.Add(copy); contentAdd.Add(replacement); }
                else { noneRemove.Add(copy); noneAdd.Add(replacement); }
            }

            Models = models.ToArray();
            DataInputs = dataInputs.ToArray();
            NoneToRemove = noneRemove.ToArray();
            NoneToAdd = noneAdd.ToArray();
            ContentToRemove = contentRemove.ToArray();
            ContentToAdd = contentAdd.ToArray();
            return !Log.HasLoggedErrors;

            IEnumerable<(ITaskItem, bool)> All()
            {
                foreach (var i in ExplicitModels) yield return (i, true);
                foreach (var i in CandidateModels) yield return (i, false);
            }

            Dictionary<string, ITaskItem> Index(ITaskItem[] items)
            {
                var map = new Dictionary<string, ITaskItem>(PathComparer);
                foreach (var i in items)
                {
                    if (!i.ItemSpec.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase)) continue;
                    string key = Path.GetFullPath(Path.Combine(projectDir, i.ItemSpec));
                    if (!map.ContainsKey(key)) map.Add(key, i);
                }
                return map;
            }
        }

        /// <summary>
        /// What the dependency file of <paramref name="compressed"/> lists (a line ending with a separator is a folder:
        /// every file now in it counts too, so an added file is seen; a listed file that is gone is kept, and MSBuild
        /// treats the missing input as out of date). No dependency file beside an existing compressed model (written by
        /// an older tool, or deleted): its path, so the target runs and writes one. Neither: nothing (the target runs anyway).
        /// </summary>
        private static IEnumerable<string> Dependencies(string compressed)
        {
            string list = compressed + ".inputs";
            if (!File.Exists(list))
            {
                if (File.Exists(compressed)) yield return list;
                yield break;
            }
            foreach (var line in File.ReadAllLines(list))
            {
                if (line.Length == 0) continue;
                if (line.EndsWith("/", StringComparison.Ordinal) || line.EndsWith("\\", StringComparison.Ordinal))
                {
                    string folder = line.TrimEnd('/', '\\');
                    if (!Directory.Exists(folder)) { yield return folder; continue; }
                    var files = Directory.GetFiles(folder);
                    Array.Sort(files, StringComparer.Ordinal);
                    foreach (var f in files) yield return f;
                }
                else yield return line;
            }
        }

        /// <summary>
        /// Beside the model, the first that exists: <c>&lt;model&gt;.compression.&lt;Configuration&gt;.yaml</c>,
        /// <c>&lt;model&gt;.compression.yaml</c>, <c>compression.&lt;Configuration&gt;.yaml</c>, <c>compression.yaml</c>; else empty.
        /// A configuration's recipe can share the rest with <c>extends: ./compression.yaml</c>.
        /// </summary>
        private string FindRecipe(string modelPath)
        {
            string dir = Path.GetDirectoryName(modelPath) ?? "";
            string model = Path.GetFileNameWithoutExtension(modelPath);
            foreach (var name in new[]
            {
                string.IsNullOrEmpty(Configuration) ? null : model + ".compression." + Configuration + ".yaml",
                model + ".compression.yaml",
                string.IsNullOrEmpty(Configuration) ? null : "compression." + Configuration + ".yaml",
                "compression.yaml",
            })
            {
                if (name is not null && File.Exists(Path.Combine(dir, name))) return Path.Combine(dir, name);
            }
            return "";
        }

        private static string First(params string?[] values)
        {
            foreach (var v in values) if (!string.IsNullOrEmpty(v)) return v!;
            return "";
        }

        private static string EnsureSlash(string dir) =>
            dir.EndsWith("/", StringComparison.Ordinal) || dir.EndsWith("\\", StringComparison.Ordinal) ? dir : dir + Path.DirectorySeparatorChar;
    }
}
