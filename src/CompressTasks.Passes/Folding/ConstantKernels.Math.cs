using CompressTasks.Model;
using CompressTasks.Passes.Infrastructure;
using DT = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Passes.Folding;

// Arithmetic, Cast and generators. Float types compute in float64 and round once to the output type: for +, −,
// ×, ÷ and √ of float32 operands that gives the correctly rounded float32 result, the same as ONNX Runtime.
internal static partial class ConstantKernels
{
    private static FoldedTensor? Binary(KernelContext c, Func<double, double, double> real, Func<long, long, long> integer)
    {
        if (c.Input(0) is not { HasData: true } a || c.Input(1) is not { HasData: true } b) return c.Fail("missing input");
        if (a.DataType != b.DataType) return c.Fail("inputs differ in type");
        if (StaticShapes.Broadcast(a.Dims, b.Dims) is not { } dims) return c.Fail("shapes do not broadcast");
        if (!c.Fits(dims, out var why)) return c.Fail(why);
        var mapA = FoldedTensor.Map(dims, FoldedTensor.BroadcastStrides(a.Dims, dims));
        var mapB = FoldedTensor.Map(dims, FoldedTensor.BroadcastStrides(b.Dims, dims));
        int type = a.DataType;
        if (type is (int)DT.Float or (int)DT.Double)
        {
            var (x, y) = (a.ToDouble()!, b.ToDouble()!);
            var r = new double[mapA.Length];
            for (int i = 0; i < r.Length; i++) r[i] = real(x[mapA[i]], y[mapB[i]]);
            return FoldedTensor.FromDouble(type, dims, r);
        }
        if (type is (int)DT.Int64 or (int)DT.Int32)
        {
            var (x, y) = (a.ToInt64()!, b.ToInt64()!);
            var r = new long[mapA.Length];
            for (int i = 0; i < r.Length; i++)
            {
                if (c.Node.OpType == "Div" && y[mapB[i]] == 0) return c.Fail("integer division by zero");
                r[i] = integer(x[mapA[i]], y[mapB[i]]);
            }
            return FoldedTensor.FromInt64(type, dims, r);
        }
        return c.Fail($"no kernel for {c.Node.OpType} on {DataTypes.Name(type)}");
    }

    private static FoldedTensor? Unary(KernelContext c, Func<double, double> real, Func<long, long>? integer)
    {
        if (c.Input(0) is not { HasData: true } x) return c.Fail("missing input");
        if (x.DataType is (int)DT.Float or (int)DT.Double)
        {
            var v = x.ToDouble()!;
            for (int i = 0; i < v.Length; i++) v[i] = real(v[i]);
            return FoldedTensor.FromDouble(x.DataType, x.Dims, v);
        }
        if (integer is not null && x.DataType is (int)DT.Int64 or (int)DT.Int32)
        {
            var v = x.ToInt64()!;
            for (int i = 0; i < v.Length; i++) v[i] = integer(v[i]);
            return FoldedTensor.FromInt64(x.DataType, x.Dims, v);
        }
        return c.Fail($"no kernel for {c.Node.OpType} on {DataTypes.Name(x.DataType)}");
    }

    // Cast: float → integer truncates toward zero (values the target cannot hold are undefined, so they are not folded);
    // integer → integer wraps; anything → bool is "not zero".
    private static FoldedTensor? Cast(KernelContext c)
    {
        if (c.Input(0) is not { HasData: true } x) return c.Fail("missing input");
        int to = (int)c.Node.GetInt("to", 0);
        bool fromFloat = FoldedTensor.IsFloat(x.DataType), fromInteger = FoldedTensor.IsInteger(x.DataType);
        if (!(fromFloat || fromInteger) || !(FoldedTensor.IsFloat(to) || FoldedTensor.IsInteger(to)))
            return c.Fail($"no kernel for Cast from {DataTypes.Name(x.DataType)} to {DataTypes.Name(to)}");
        if (FoldedTensor.IsFloat(to))
        {
            if (x.DataType == (int)DT.Float16 && to == (int)DT.Float16) return x with { Bytes = x.Bytes.ToArray() };
            return FoldedTensor.FromDouble(to, x.Dims, x.ToDouble()!);
        }
        if (fromInteger) return FoldedTensor.FromInt64(to, x.Dims, x.ToInt64()!);
        var values = x.ToDouble()!;
        var result = new long[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double v = values[i];
            if (to == (int)DT.Bool) result[i] = v != 0 || double.IsNaN(v) ? 1 : 0;
            else if (!(Math.Abs(v) < 9.2e18) || !Representable((long)v, to)) return c.Fail($"Cast of {v} to {DataTypes.Name(to)} is undefined");
            else result[i] = (long)v;
        }
        return FoldedTensor.FromInt64(to, x.Dims, result);
    }

    // Whether a truncated float fits the integer type (C++ leaves other conversions undefined).
    private static bool Representable(long v, int type) => (DT)type switch
    {
        DT.Int8 => v is >= sbyte.MinValue and <= sbyte.MaxValue,
        DT.Uint8 => v is >= 0 and <= byte.MaxValue,
        DT.Int16 => v is >= short.MinValue and <= short.MaxValue,
        DT.Uint16 => v is >= 0 and <= ushort.MaxValue,
        DT.Int32 => v is >= int.MinValue and <= int.MaxValue,
        DT.Uint32 => v is >= 0 and <= uint.MaxValue,
        DT.Uint64 => v >= 0,
        _ => true,
    };

    // Range: n = max(⌈(limit − start) / delta⌉, 0) elements start, start + delta, … accumulated in the input type.
    private static FoldedTensor? Range(KernelContext c)
    {
        if (c.Input(0) is not { HasData: true, Count: 1 } s || c.Input(1) is not { HasData: true, Count: 1 } l || c.Input(2) is not { HasData: true, Count: 1 } d)
            return c.Fail("start, limit and delta must be scalars");
        if (s.DataType != l.DataType || s.DataType != d.DataType) return c.Fail("inputs differ in type");
        int type = s.DataType;
        if (type is (int)DT.Int64 or (int)DT.Int32 or (int)DT.Int16)
        {
            long start = s.ToInt64()![0], delta = d.ToInt64()![0];
            if (delta == 0) return c.Fail("delta is 0");
            long n = (long)Math.Max(Math.Ceiling((double)(l.ToInt64()![0] - start) / delta), 0);
            if (!c.Fits([n], out var why)) return c.Fail(why);
            var r = new long[n];
            for (long i = 0; i < n; i++) r[i] = start + i * delta;
            return FoldedTensor.FromInt64(type, [n], r);
        }
        if (type is (int)DT.Float or (int)DT.Double)
        {
            double start = s.ToDouble()![0], delta = d.ToDouble()![0];
            if (delta == 0) return c.Fail("delta is 0");
            double count = Math.Max(Math.Ceiling((l.ToDouble()![0] - start) / delta), 0);
            if (!(count <= long.MaxValue) || !c.Fits([(long)count], out var why)) return c.Fail($"Range would hold {count} elements");
            var r = new double[(long)count];
            // ONNX Runtime accumulates in the element type: value += delta, rounding at each step.
            float f = (float)start;
            double v = start;
            for (long i = 0; i < r.Length; i++)
            {
                r[i] = type == (int)DT.Float ? f : v;
                f += (float)delta;
                v += delta;
            }
            return FoldedTensor.FromDouble(type, [r.Length], r);
        }
        return c.Fail($"no kernel for Range on {DataTypes.Name(type)}");
    }

    private static FoldedTensor? ConstantOfShape(KernelContext c)
    {
        if (c.Input(0)?.ToInt64() is not { } dims || dims.Any(d => d < 0)) return c.Fail("shape is not a non-negative int64 vector");
        if (!c.Fits(dims, out var why)) return c.Fail(why);
        var value = c.Node.FindAttribute("value")?.T;
        int type = value?.DataType ?? (int)DT.Float;
        int size = DataTypes.BitsPerElement(type) / 8;
        var one = value is null ? new byte[4] : TensorData.GetBytes(value, null).ToArray();
        if (size == 0 || one.Length != size) return c.Fail("value is not one fixed-size element");
        long n = FoldedTensor.ElementCount(dims);
        var bytes = new byte[n * size];
        for (long i = 0; i < n; i++) one.CopyTo(bytes, i * size);
        return new FoldedTensor(type, dims, bytes);
    }
}
