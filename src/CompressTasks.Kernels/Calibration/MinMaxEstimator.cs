using System.Numerics.Tensors;

namespace CompressTasks.Kernels.Calibration;

/// <summary>
/// The plainest range: the smallest and largest value seen, widened to contain 0.
/// <code>range = [min(0, min x), max(0, max x)]</code>
/// Every observed value is representable, so nothing saturates, but one outlier stretches the scale for all.
/// </summary>
public sealed class MinMaxEstimator : IRangeEstimator
{
    private float _min;
    private float _max;

    /// <inheritdoc/>
    public void Observe(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        float min = TensorPrimitives.Min(values), max = TensorPrimitives.Max(values);
        if (float.IsFinite(min) && float.IsFinite(max))
        {
            _min = Math.Min(_min, min);
            _max = Math.Max(_max, max);
            return;
        }
        // NaN or an infinity somewhere (TensorPrimitives propagates NaN): fall back to a finite-only scan.
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) continue;
            if (v < _min) _min = v;
            if (v > _max) _max = v;
        }
    }

    /// <inheritdoc/>
    public (float Min, float Max) Range() => (_min, _max);
}
