namespace CompressTasks.Kernels.Calibration;

/// <summary>
/// Watches the values one activation takes over the calibration batches and proposes the float range
/// [<c>Min</c>, <c>Max</c>] to quantize it to. Batches arrive one at a time (streaming): an estimator keeps a
/// fixed-size summary, never the values themselves. The same batches in the same order give the same range.
/// </summary>
public interface IRangeEstimator
{
    /// <summary>Adds one batch of values (NaN and infinities are ignored).</summary>
    void Observe(ReadOnlySpan<float> values);

    /// <summary>The range to quantize to, always containing 0; (0, 0) when nothing finite was observed.</summary>
    (float Min, float Max) Range();
}
