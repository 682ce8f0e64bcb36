using CompressTasks.Diagnostics;
using CompressTasks.Model.Onnx;
using Google.Protobuf;
using DataType = CompressTasks.Model.Onnx.TensorProto.Types.DataType;

namespace CompressTasks.Model.Tests.Tensors;

/// <summary>
/// Typed payload fields decoded to the dense raw_data layout, against hand-computed bytes: packed (the normal
/// encoding, which our schema keeps as one bytes slice) and unpacked (one element per tag, kept as unknown fields).
/// </summary>
[TestClass]
public sealed class TensorDataTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", ""));

    private static TensorProto Packed(DataType type, long[] dims, int field, string encodedHex)
    {
        var t = new TensorProto { Name = "t", DataType = (int)type };
        t.Dims.AddRange(dims);
        var payload = ByteString.CopyFrom(Hex(encodedHex));
        switch (field)
        {
            case 4: t.FloatData = payload; break;
            case 5: t.Int32Data = payload; break;
            case 7: t.Int64Data = payload; break;
            case 10: t.DoubleData = payload; break;
            case 11: t.Uint64Data = payload; break;
        }
        return t;
    }

    // Packed payloads: varints are hand-encoded (e.g. int32 −1 is ten bytes FF…FF 01, 300 is AC 02).
    [TestMethod]
    [DataRow(DataType.Float, new long[] { 3 }, 4, "0000C03F 000000C0 00000000", "0000C03F 000000C0 00000000", DisplayName = "float_data: 1.5, -2, 0")]
    [DataRow(DataType.Int8, new long[] { 3 }, 5, "FFFFFFFFFFFFFFFFFF01 7F 80FFFFFFFFFFFFFFFF01", "FF 7F 80", DisplayName = "int32_data as int8: -1, 127, -128")]
    [DataRow(DataType.Uint8, new long[] { 2 }, 5, "00 FF01", "00 FF", DisplayName = "int32_data as uint8: 0, 255")]
    [DataRow(DataType.Float16, new long[] { 2 }, 5, "8078 808003", "003C 00C0", DisplayName = "int32_data as float16 bits: 1.0 (0x3C00), -2.0 (0xC000)")]
    [DataRow(DataType.Bool, new long[] { 3 }, 5, "01 00 01", "01 00 01", DisplayName = "int32_data as bool")]
    [DataRow(DataType.Int16, new long[] { 1, 2 }, 5, "FFFFFFFFFFFFFFFFFF01 AC02", "FFFF 2C01", DisplayName = "int32_data as int16: -1, 300")]
    [DataRow(DataType.Int32, new long[] { 2 }, 5, "AC02 FFFFFFFF07", "2C010000 FFFFFF7F", DisplayName = "int32_data: 300, int.MaxValue")]
    [DataRow(DataType.Int64, new long[] { 2 }, 7, "FFFFFFFFFFFFFFFFFF01 AC02", "FFFFFFFFFFFFFFFF 2C01000000000000", DisplayName = "int64_data: -1, 300")]
    [DataRow(DataType.Double, new long[] { 1 }, 10, "000000000000E03F", "000000000000E03F", DisplayName = "double_data: 0.5")]
    [DataRow(DataType.Uint64, new long[] { 1 }, 11, "FFFFFFFFFFFFFFFFFF01", "FFFFFFFFFFFFFFFF", DisplayName = "uint64_data: 2^64-1")]
    [DataRow(DataType.Uint32, new long[] { 1 }, 11, "80D0ACF30E", "0028 6BEE", DisplayName = "uint64_data as uint32: 4000000000")]
    [DataRow(DataType.Float, new long[] { 0 }, 4, "", "", DisplayName = "empty tensor")]
    public void WhenTypedFieldIsPacked_ThenItDecodesToDenseBytes(DataType type, long[] dims, int field, string encoded, string dense)
    {
        var tensor = Packed(type, dims, field, encoded);
        CollectionAssert.AreEqual(Hex(dense), TensorData.GetBytes(tensor, null).ToArray());
    }

    // The same values with one element per tag: fixed32 for float, fixed64 for double, varint for the rest. The tensor's
    // name and dims come first, as the reference serializer writes them, so the decoder must skip other fields correctly.
    [TestMethod]
    [DataRow(DataType.Float, "25 0000C03F 25 000000C0", "0000C03F 000000C0", DisplayName = "unpacked float_data")]
    [DataRow(DataType.Int8, "28 FFFFFFFFFFFFFFFFFF01 28 7F", "FF 7F", DisplayName = "unpacked int32_data as int8")]
    [DataRow(DataType.Float16, "28 8078 28 808003", "003C 00C0", DisplayName = "unpacked int32_data as float16")]
    [DataRow(DataType.Int64, "38 FFFFFFFFFFFFFFFFFF01 38 AC02", "FFFFFFFFFFFFFFFF 2C01000000000000", DisplayName = "unpacked int64_data")]
    [DataRow(DataType.Double, "51 000000000000E03F 51 000000000000F0BF", "000000000000E03F 000000000000F0BF", DisplayName = "unpacked double_data")]
    [DataRow(DataType.Uint64, "58 01 58 FFFFFFFFFFFFFFFFFF01", "0100000000000000 FFFFFFFFFFFFFFFF", DisplayName = "unpacked uint64_data")]
    public void WhenTypedFieldIsUnpacked_ThenItDecodesToDenseBytes(DataType type, string elements, string dense)
    {
        // dims: 08 02 (field 1 varint 2); data_type: 10 nn; name: 42 04 "name"; doc_string: 62 03 "doc".
        var wire = Hex($"08 02 10 {(int)type:X2} 42 04 6E616D65 62 03 646F63 {elements}");
        var tensor = TensorProto.Parser.ParseFrom(wire);
        Assert.AreEqual("name", tensor.Name);
        CollectionAssert.AreEqual(Hex(dense), TensorData.GetBytes(tensor, null).ToArray());
    }

    [TestMethod]
    [DataRow(DataType.Float, new long[] { 4 }, 4, "0000C03F 000000C0 00000000", DisplayName = "float_data one element short")]
    [DataRow(DataType.Int8, new long[] { 3 }, 5, "01 02", DisplayName = "int32_data one element short")]
    [DataRow(DataType.Int8, new long[] { 1 }, 5, "01 02", DisplayName = "int32_data one element too many")]
    [DataRow(DataType.Int64, new long[] { 1 }, 7, "FFFF", DisplayName = "int64_data with a truncated varint")]
    [DataRow(DataType.Double, new long[] { 2 }, 10, "000000000000E03F", DisplayName = "double_data one element short")]
    [DataRow(DataType.Float, new long[] { 2 }, 0, "", DisplayName = "no payload at all")]
    [DataRow(DataType.Float, new long[] { -1 }, 4, "", DisplayName = "negative dimension")]
    [DataRow(DataType.String, new long[] { 1 }, 0, "", DisplayName = "string tensor")]
    [DataRow((DataType)99, new long[] { 1 }, 0, "", DisplayName = "unknown data type")]
    public void WhenPayloadDoesNotMatchTypeAndShape_ThenCT0107(DataType type, long[] dims, int field, string encoded)
    {
        var tensor = Packed(type, dims, field, encoded);
        var e = Assert.ThrowsExactly<CompressTasksException>(() => TensorData.GetBytes(tensor, null));
        Assert.AreEqual(DiagnosticCodes.TensorDataInvalid, e.Code, e.Message);
    }

    [TestMethod]
    public void WhenRawDataLengthIsWrong_ThenCT0107()
    {
        var tensor = new TensorProto { Name = "t", DataType = (int)DataType.Float, Dims = { 2 }, RawData = ByteString.CopyFrom(new byte[7]) };
        Assert.AreEqual(DiagnosticCodes.TensorDataInvalid, Assert.ThrowsExactly<CompressTasksException>(() => TensorData.GetBytes(tensor, null)).Code);
    }

    [TestMethod]
    public void WhenTypedPayloadGoesThroughTheHollowParser_ThenItIsZeroCopyAndDecodesTheSame()
    {
        // 16 floats in float_data (64 bytes: over the parser's 12-byte placeholder threshold).
        var floats = Enumerable.Range(0, 16).Select(i => i * 0.25f - 1).ToArray();
        var dense = floats.SelectMany(BitConverter.GetBytes).ToArray();
        var weight = new TensorProto { Name = "w", DataType = 1, Dims = { 16 }, FloatData = ByteString.CopyFrom(dense) };
        var bytes = ModelBytes.AddModel(weight).ToByteArray();
        using var model = OnnxModel.Parse(bytes);
        var t = model.Proto.Graph.Initializer[0];
        CollectionAssert.AreEqual(dense, model.GetTensorBytes(t).ToArray());
        Assert.IsTrue(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(t.FloatData.Memory, out var segment) && segment.Array == bytes,
            "the payload should be a slice of the input buffer");
        // Packed floats are already the dense layout: the payload handed out is that same slice, not a decoded copy.
        Assert.IsTrue(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(model.GetTensorBytes(t), out var payload) && payload.Array == bytes,
            "the dense payload of packed float_data should be the slice itself");
    }
    // Releasing a payload's pages drops only memory the mapped file can give back: the bytes read the same after it,
    // for a payload of the model file, of an external data file, and (where nothing may be released) of a model in
    // memory; a wrong release of heap memory would read zeros.
    [TestMethod]
    [DataRow("inline")]
    [DataRow("external")]
    [DataRow("memory")]
    public void WhenAPayloadsPagesAreReleased_ItStillReadsTheSameBytes(string where)
    {
        using var temp = new TempDirectory();
        // 16 pages and a bit, starting off a page boundary: whole pages inside it go, its neighbours' pages stay.
        var data = Enumerable.Range(0, 4 * 16400).Select(i => (byte)(i * 7 + 3)).ToArray();
        var weight = new TensorProto { Name = "w", DataType = 1, Dims = { data.Length / 4 } };
        if (where == "external")
        {
            File.WriteAllBytes(temp.File("w.bin"), [.. new byte[100], .. data]);
            weight.DataLocation = TensorProto.Types.DataLocation.External;
            weight.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = "w.bin" });
            weight.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "100" });
            weight.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = data.Length.ToString() });
        }
        else weight.RawData = ByteString.CopyFrom(data);
        var bytes = ModelBytes.AddModel(weight).ToByteArray();
        File.WriteAllBytes(temp.File("m.onnx"), bytes);
        using var model = where == "memory" ? OnnxModel.Parse(bytes) : OnnxModel.Load(temp.File("m.onnx"));
        var payload = model.GetTensorBytes(model.Proto.Graph.Initializer[0]);
        CollectionAssert.AreEqual(data, payload.ToArray());
        TensorData.ReleasePages(payload);
        CollectionAssert.AreEqual(data, payload.ToArray(), "after releasing the payload's pages");
        model.ReleasePages();
        CollectionAssert.AreEqual(data, payload.ToArray(), "after releasing the model's pages");
    }
}
