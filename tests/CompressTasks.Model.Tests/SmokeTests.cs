namespace CompressTasks.Model.Tests;

[TestClass]
public sealed class SmokeTests
{
    [TestMethod]
    public void Smoke() => Assert.AreEqual(32, DataTypes.BitsPerElement(1));
}
