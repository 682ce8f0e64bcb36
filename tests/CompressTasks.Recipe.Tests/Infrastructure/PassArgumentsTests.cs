using CompressTasks.Passes.Infrastructure;

namespace CompressTasks.Recipe.Tests.Infrastructure;

// Lives here until CompressTasks.Passes gets its own test project.
[TestClass]
public sealed class PassArgumentsTests
{
    private enum WeightType { Int8, Uint8 }

    private static PassDescriptor Quantize => TestCatalog.Instance.Passes.Single(p => p.Name == "quantize-dynamic");

    private static PassDescriptor Prune => TestCatalog.Instance.Passes.Single(p => p.Name == "prune-magnitude");

    [TestMethod]
    public void WhenNothingSet_GettersReturnDeclaredDefaults()
    {
        var args = new PassArguments(Prune);
        Assert.AreEqual(0.5, args.GetDouble("sparsity"));
        Assert.AreEqual(1024, args.GetInt("min-size"));
        Assert.AreEqual("", args.GetString("scope"));
        Assert.IsEmpty(args.Explicit);
    }

    [TestMethod]
    public void WhenSet_GettersReturnValues_AndEnumMapsKebabToPascal()
    {
        var args = new PassArguments(Quantize, [new("weight-type", "uint8"), new("exclude-ops", new[] { "Conv" })]);
        Assert.AreEqual(WeightType.Uint8, args.GetEnum<WeightType>("weight-type"));
        Assert.IsFalse(args.GetBool("per-channel"));
        CollectionAssert.AreEqual(new[] { "Conv" }, args.GetStringList("exclude-ops").ToArray());
        Assert.IsTrue(args.IsExplicit("weight-type"));
        Assert.IsFalse(args.IsExplicit("per-channel"));
    }

    [TestMethod]
    public void WhenUndeclaredOrWrongType_Throws()
    {
        var args = new PassArguments(Prune);
        Assert.ThrowsExactly<ArgumentException>(() => args.GetInt("nope"));
        Assert.ThrowsExactly<InvalidOperationException>(() => args.GetBool("sparsity"));
        Assert.ThrowsExactly<ArgumentException>(() => new PassArguments(Prune, [new("min-size", "12")]));
    }

    [TestMethod]
    public void Equality_ComparesExplicitValues()
    {
        Assert.AreEqual(new PassArguments(Quantize, [new("exclude-ops", new[] { "a" })]), new PassArguments(Quantize, [new("exclude-ops", new List<string> { "a" })]));
        Assert.AreNotEqual(new PassArguments(Prune, [new("sparsity", 0.25)]), new PassArguments(Prune));
    }

    [TestMethod]
    [DataRow("Fuse-conv")]
    [DataRow("fuse_conv")]
    [DataRow("fuse--conv")]
    [DataRow("-fuse")]
    public void WhenNameNotKebabCase_DescriptorThrows(string name) =>
        Assert.ThrowsExactly<ArgumentException>(() => new PassDescriptor(name, PassKind.Fusion, "x"));

    [TestMethod]
    public void WhenDefaultsInvalid_SpecFactoriesThrow()
    {
        Assert.ThrowsExactly<ArgumentException>(() => ParameterSpec.Enum("mode", "c", ["a", "b"], "x"));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ParameterSpec.Ratio("r", 1.5, "x"));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ParameterSpec.Int("n", 5, "x", minimum: 10));
    }

    [TestMethod]
    public void WhenTwoPassesShareAName_CatalogThrows() =>
        Assert.ThrowsExactly<ArgumentException>(() => new PassCatalog([Prune, Prune]));
}
