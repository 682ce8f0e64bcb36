using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

// Loads the model that the build compressed into the output folder and classifies one synthetic image.
string modelPath = Path.Combine(AppContext.BaseDirectory, "models", "resnet18.onnx");
string reportPath = modelPath + ".report.json";

using var options = new SessionOptions();
using var session = new InferenceSession(modelPath, options);
var (inputName, input) = session.InputMetadata.First();

// Dynamic dimensions (-1) become 1 for the batch and 224 for the image; the image is a smooth gradient.
int[] shape = input.Dimensions.Select((d, i) => d > 0 ? d : i == 0 ? 1 : 224).ToArray();
var image = new DenseTensor<float>(shape);
for (int i = 0; i < image.Length; i++) image.SetValue(i, (i % 224) / 224f);

using var results = session.Run([NamedOnnxValue.CreateFromTensor(inputName, image)]);
var output = results.First();
var tensor = output.AsTensor<float>();
Console.WriteLine($"model:  {modelPath} ({new FileInfo(modelPath).Length / 1e6:0.0} MB)");
Console.WriteLine($"input:  {inputName} [{string.Join(", ", shape)}]");
Console.WriteLine($"output: {output.Name} [{string.Join(", ", tensor.Dimensions.ToArray())}]");

if (File.Exists(reportPath))
{
    // The build's report (schema: src/CompressTasks.Verification/Report/CompressionReport.cs).
    using var report = JsonDocument.Parse(File.ReadAllText(reportPath));
    var root = report.RootElement;
    var passes = root.GetProperty("passes").EnumerateArray().Select(p => $"{p.GetProperty("name").GetString()} ×{p.GetProperty("rewritten").GetInt32()}");
    long before = root.GetProperty("original").GetProperty("fileBytes").GetInt64();
    long after = root.GetProperty("compressed").GetProperty("fileBytes").GetInt64();
    Console.WriteLine($"report: {reportPath}");
    Console.WriteLine($"size:   {before / 1e6:0.0} MB → {after / 1e6:0.0} MB");
    Console.WriteLine($"passes: {string.Join(", ", passes)}");
}
