using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace CompressTasks.Model;

/// <summary>
/// File-to-file copies inside the kernel (Linux <c>copy_file_range</c>), the way <see cref="File.Copy(string, string)"/>
/// copies: the bytes never pass through user space. Elsewhere, or where the file systems refuse, callers fall back
/// to an ordinary write.
/// </summary>
internal static partial class KernelCopy
{
    private static bool _unsupported = !OperatingSystem.IsLinux();

    /// <summary>Copies <paramref name="length"/> bytes at explicit offsets; false (nothing to undo) when the kernel cannot.</summary>
    public static bool TryCopy(SafeFileHandle source, long sourceOffset, SafeFileHandle destination, long destinationOffset, long length)
    {
        if (_unsupported) return false;
        bool addedSource = false, addedDestination = false;
        try
        {
            source.DangerousAddRef(ref addedSource);
            destination.DangerousAddRef(ref addedDestination);
            int input = (int)source.DangerousGetHandle(), output = (int)destination.DangerousGetHandle();
            long done = 0;
            while (done < length)
            {
                long inOffset = sourceOffset + done, outOffset = destinationOffset + done;
                nint copied = CopyFileRange(input, ref inOffset, output, ref outOffset, (nuint)Math.Min(length - done, 1L << 30), 0);
                if (copied <= 0)
                {
                    // ENOSYS, EXDEV, EINVAL, EOPNOTSUPP...: this pair of files cannot; nothing partial matters, since the
                    // fallback rewrites the whole range at the same offsets.
                    if (copied < 0 && Marshal.GetLastPInvokeError() == 38) _unsupported = true;
                    return false;
                }
                done += copied;
            }
            return true;
        }
        catch (EntryPointNotFoundException)
        {
            _unsupported = true;
            return false;
        }
        finally
        {
            if (addedSource) source.DangerousRelease();
            if (addedDestination) destination.DangerousRelease();
        }
    }

    [LibraryImport("libc", EntryPoint = "copy_file_range", SetLastError = true)]
    private static partial nint CopyFileRange(int fdIn, ref long offIn, int fdOut, ref long offOut, nuint length, uint flags);
}
