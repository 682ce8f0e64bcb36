namespace CompressTasks.Kernels.Reconstruction;

// TEMPORARY (removed at merge): reference versions of the float kernels the helpers are writing, through the
// double ones, so that the integration compiles and runs before they land.
public static class FloatShim
{
    public static double InverseUpperFactor(SymmetricMatrix h, double damp)
    {
        int n = h.Order;
        var d = h.ToDouble();
        double used = Cholesky.InverseUpperFactor(d, n, damp);
        for (int i = 0; i < n; i++)
            for (int j = i; j < n; j++) h[i, j] = (float)d[i * n + j];
        return used;
    }

    public static void Accumulate(ReadOnlySpan<float> rows, int features, SymmetricMatrix h, Span<double> sum)
    {
        var t = new double[features * features];
        var s = new double[features];
        SecondMoment.Accumulate(rows, features, t, s);
        Merge(h, t, s, sum);
    }

    public static void AccumulateTransposed(ReadOnlySpan<float> columns, int features, SymmetricMatrix h, Span<double> sum)
    {
        var t = new double[features * features];
        var s = new double[features];
        SecondMoment.AccumulateTransposed(columns, features, t, s);
        Merge(h, t, s, sum);
    }

    private static void Merge(SymmetricMatrix h, double[] t, double[] s, Span<double> sum)
    {
        int n = h.Order;
        for (int i = 0; i < n; i++)
        {
            sum[i] += s[i];
            for (int j = i; j < n; j++) h[i, j] += (float)t[i * n + j];
        }
    }

    public static long AccumulatePatches(ReadOnlySpan<float> input, int images, int channels, int height, int width, ConvGeometry geometry, SymmetricMatrix[] h, Span<double> sum)
    {
        int k = h[0].Order, groups = h.Length;
        var t = new double[groups * k * k];
        var s = new double[groups * k];
        long total = ConvPatches.Accumulate(input, images, channels, height, width, geometry, t, s);
        for (int g = 0; g < groups; g++) Merge(h[g], t.AsSpan(g * k * k, k * k).ToArray(), s.AsSpan(g * k, k).ToArray(), sum.Slice(g * k, k));
        return total;
    }

    public static (double Error, double Reference) Terms(SymmetricMatrix h, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns) =>
        LayerError.Terms(h.ToDouble(), original, compressed, rows, columns);

    public static double Error(SymmetricMatrix h, ReadOnlySpan<float> original, ReadOnlySpan<float> compressed, int rows, int columns) =>
        LayerError.Error(h.ToDouble(), original, compressed, rows, columns);
}
