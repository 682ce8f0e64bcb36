using CompressTasks.Kernels.Reconstruction;

namespace CompressTasks.Kernels.Tests.Reconstruction;

/// <summary>
/// A generated linear layer W [K, N] and samples with correlated features: x = A z + 0.1 ε with z of a quarter
/// of K's dimension (so neighbouring features move together, as activations do), plus a non-zero mean.
/// </summary>
internal sealed class CorrelatedLayer
{
    public CorrelatedLayer(int k, int n, int samples, int seed)
    {
        K = k;
        N = n;
        Samples = samples;
        var random = new Random(seed);
        int rank = Math.Max(1, k / 4);
        var mix = new float[k * rank];
        for (int i = 0; i < mix.Length; i++) mix[i] = (float)Gaussian(random);
        X = new float[samples * k];
        var z = new double[rank];
        for (int s = 0; s < samples; s++)
        {
            for (int r = 0; r < rank; r++) z[r] = Gaussian(random);
            for (int i = 0; i < k; i++)
            {
                double v = 0.3 + 0.1 * Gaussian(random);
                for (int r = 0; r < rank; r++) v += mix[i * rank + r] * z[r];
                X[s * k + i] = (float)v;
            }
        }
        W = new float[k * n];
        for (int i = 0; i < W.Length; i++) W[i] = (float)(Gaussian(random) * 0.1);
        H = new double[k * k];
        Sum = new double[k];
        SecondMoment.Accumulate(X, k, H, Sum);
    }

    public int K { get; }

    public int N { get; }

    public int Samples { get; }

    /// <summary>Samples [Samples, K].</summary>
    public float[] X { get; }

    /// <summary>Weights [K, N].</summary>
    public float[] W { get; }

    /// <summary>Σ x xᵀ.</summary>
    public double[] H { get; }

    /// <summary>H as the passes hold it: float, one triangle (a new matrix each call, for the caller to dispose).</summary>
    public SymmetricMatrix Symmetric() => SymmetricMatrix.FromDouble(H, K);

    /// <summary>Σ x.</summary>
    public double[] Sum { get; }

    /// <summary>Mean input.</summary>
    public double[] Mean => Array.ConvertAll(Sum, s => s / Samples);

    /// <summary>The layer output error measured directly on the samples: Σ‖(W − Ŵ)ᵀ x‖² / Σ‖Wᵀ x‖².</summary>
    public double OutputError(float[] compressed)
    {
        double error = 0, reference = 0;
        for (int s = 0; s < Samples; s++)
        {
            for (int c = 0; c < N; c++)
            {
                double y = 0, yHat = 0;
                for (int i = 0; i < K; i++)
                {
                    y += (double)X[s * K + i] * W[i * N + c];
                    yHat += (double)X[s * K + i] * compressed[i * N + c];
                }
                error += (y - yHat) * (y - yHat);
                reference += y * y;
            }
        }
        return error / reference;
    }

    /// <summary>Mean over samples and outputs of ŷ − y.</summary>
    public double[] MeanShift(float[] compressed, float[]? bias = null)
    {
        var shift = new double[N];
        for (int s = 0; s < Samples; s++)
            for (int c = 0; c < N; c++)
            {
                double d = bias?[c] ?? 0;
                for (int i = 0; i < K; i++) d += (double)X[s * K + i] * (compressed[i * N + c] - W[i * N + c]);
                shift[c] += d / Samples;
            }
        return shift;
    }

    public static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
