using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace CompressTasks.Build.Tests;

/// <summary>
/// Desktop MSBuild (Visual Studio, .NET Framework) cannot run on the Linux CI, so what lets the task load there is
/// checked statically: the task assembly targets netstandard2.0 and references nothing but netstandard and the two
/// MSBuild assemblies every MSBuild provides. A dependency that only .NET 10 has fails here rather than in Visual Studio.
/// </summary>
[TestClass]
public sealed class TaskAssemblyTests
{
    private static readonly string TaskAssembly = Path.Combine(AppContext.BaseDirectory, "CompressTasks.Build.dll");

    [TestMethod]
    public void TaskAssembly_TargetsNetStandard20_AndReferencesOnlyNetStandardAndMSBuild()
    {
        using var pe = new PEReader(File.OpenRead(TaskAssembly));
        var metadata = pe.GetMetadataReader();

        Assert.AreEqual(".NETStandard,Version=v2.0", TargetFramework(metadata));
        var references = metadata.AssemblyReferences.Select(h => metadata.GetAssemblyReference(h))
            .ToDictionary(r => metadata.GetString(r.Name), r => r.Version);
        var allowed = new[] { "netstandard", "Microsoft.Build.Framework", "Microsoft.Build.Utilities.Core" };
        CollectionAssert.IsSubsetOf(references.Keys.ToArray(), allowed, "references: " + string.Join(", ", references.Keys));
        Assert.AreEqual(new Version(2, 0, 0, 0), references["netstandard"]);
        // MSBuild's own assemblies keep version 15.1.0.0 (every MSBuild since 15 binds to it), so the task loads in any of them.
        foreach (var msbuild in references.Keys.Where(k => k.StartsWith("Microsoft.Build.", StringComparison.Ordinal)))
            Assert.AreEqual(new Version(15, 1, 0, 0), references[msbuild], msbuild);
    }

    private static string? TargetFramework(MetadataReader metadata)
    {
        foreach (var handle in metadata.GetAssemblyDefinition().GetCustomAttributes())
        {
            var attribute = metadata.GetCustomAttribute(handle);
            if (attribute.Constructor.Kind != HandleKind.MemberReference) continue;
            var ctor = metadata.GetMemberReference((MemberReferenceHandle)attribute.Constructor);
            if (ctor.Parent.Kind != HandleKind.TypeReference) continue;
            var type = metadata.GetTypeReference((TypeReferenceHandle)ctor.Parent);
            if (metadata.GetString(type.Name) != "TargetFrameworkAttribute") continue;
            // Custom attribute blob: prolog 0x0001, then the SerString argument.
            var blob = metadata.GetBlobReader(attribute.Value);
            blob.ReadUInt16();
            return blob.ReadSerializedString();
        }
        return null;
    }
}
