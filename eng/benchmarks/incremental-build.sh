#!/usr/bin/env bash
# Measures what CompressTasks adds to a no-op build: the median of N no-op `dotnet build --no-restore` runs of the same
# console project with and without the package (with one tiny model + recipe, so the targets have work to skip).
# Runs alternate between the two projects so machine noise hits both alike. Build servers and node reuse stay on,
# as in a developer's inner loop. Then the cache hit: the model file is touched (same bytes, newer timestamp), so the
# compression target runs and the engine restores the result from its content-hash cache instead of recompressing.
#
#   eng/benchmarks/incremental-build.sh [N=15]
set -euo pipefail
RELU_ONNX_BASE64='CAgSGUNvbXByZXNzVGFza3MuQnVpbGQuVGVzdHM6RAoSCgFYEgFZGgRyZWx1IgRSZWx1EgRyZWx1WhMKAVgSDgoMCAESCAoCCAEKAggEYhMKAVkSDgoMCAESCAoCCAEKAggEQgQKABAN'
N=${1:-15}
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/ct-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Always the working tree's code: a fresh pack under a unique version into a private feed and packages folder (a
# fixed version would be served from NuGet's global packages folder, whatever was packed last; notes, pitfall 9).
version="$(sed -n 's:.*<CompressTasksVersion>\(.*\)</CompressTasksVersion>.*:\1:p' "$repo/eng/Versions.props")-bench.$(date +%Y%m%d%H%M%S)"
feed="$work/feed"
echo "packing CompressTasks $version into $feed ..."
dotnet pack "$repo/src/CompressTasks.Package/CompressTasks.Package.csproj" -c Release -nologo -v:q -p:PackageVersion="$version" -o "$feed" >/dev/null
cat > "$work/NuGet.config" <<XML
<configuration>
  <packageSources><clear /><add key="local" value="$feed" /><add key="nuget.org" value="https://api.nuget.org/v3/index.json" /></packageSources>
  <config><add key="globalPackagesFolder" value="$work/packages" /></config>
</configuration>
XML
echo '<Project />' > "$work/Directory.Build.props"; echo '<Project />' > "$work/Directory.Build.targets"; echo '<Project />' > "$work/Directory.Packages.props"

make_project() { # name, extra items
  mkdir -p "$work/$1"
  cat > "$work/$1/$1.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup>$2</ItemGroup>
</Project>
XML
  echo 'System.Console.WriteLine("hi");' > "$work/$1/Program.cs"
}
make_project without ""
make_project with "<PackageReference Include=\"CompressTasks\" Version=\"$version\" PrivateAssets=\"all\" /><None Update=\"relu.onnx\" CopyToOutputDirectory=\"PreserveNewest\" />"
# A 1x4 Relu model (what tests/CompressTasks.Build.Tests/TinyModels.cs writes), and a one-pass recipe beside it
# (an empty recipe is CT1003).
echo "$RELU_ONNX_BASE64" | base64 -d > "$work/with/relu.onnx"
printf 'passes:\n  - eliminate-identity\n' > "$work/with/compression.yaml"

for p in without with; do
  dotnet build "$work/$p" -nologo -v:q >/dev/null   # restore + first build
  dotnet build "$work/$p" --no-restore -nologo -v:q >/dev/null   # warm up
done

time_ms() { local s e; s=$(date +%s%N); dotnet build "$work/$1" --no-restore -nologo -v:q -tl:off >/dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
: > "$work/without.txt"; : > "$work/with.txt"
for ((i = 0; i < N; i++)); do
  time_ms without >> "$work/without.txt"
  time_ms with >> "$work/with.txt"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : int((a[NR/2] + a[NR/2+1]) / 2)}'; }
m0=$(median "$work/without.txt"); m1=$(median "$work/with.txt")
echo "no-op dotnet build --no-restore, median of $N runs ($(nproc) cores, $(dotnet --version)):"
echo "  without CompressTasks: ${m0} ms   (runs: $(tr '\n' ' ' < "$work/without.txt"))"
echo "  with CompressTasks:    ${m1} ms   (runs: $(tr '\n' ' ' < "$work/with.txt"))"
echo "  difference:            $((m1 - m0)) ms"
: > "$work/cachehit.txt"
for ((i = 0; i < N; i++)); do
  touch "$work/with/relu.onnx"
  time_ms with >> "$work/cachehit.txt"
done
m2=$(median "$work/cachehit.txt")
echo "  with, model touched (target runs, cache hit): ${m2} ms, $((m2 - m0)) ms over the project without the package   (runs: $(tr '\n' ' ' < "$work/cachehit.txt"))"
