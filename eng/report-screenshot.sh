#!/usr/bin/env bash
# Compresses one model through the CLI and screenshots its HTML report in headless Chromium, to check by eye that the
# report renders (charts, tables, the summary line). Prints the PNG's path.
#
#   eng/report-screenshot.sh MODEL [RECIPE] [OUT_DIR=artifacts/report-screenshot]
#
# Without RECIPE a temporary one is used: the optimize preset, float16 weights and latency, so every section shows.
set -euo pipefail
if (($# < 1)); then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
model=$(realpath "$1")
out=$(realpath -m "${3:-$repo/artifacts/report-screenshot}")
chromium=${CHROMIUM:-/usr/bin/chromium}
[[ -x $chromium ]] || { echo "error: $chromium not found; install it with 'apt-get install chromium'" >&2; exit 1; }

work=$(mktemp -d /tmp/ct-screenshot.XXXXXX)
trap 'rm -rf "$work"' EXIT
if (($# >= 2)); then
  recipe=$(realpath "$2")
else
  recipe="$work/compression.yaml"
  printf 'extends: optimize\npasses:\n  - convert-weights-fp16\nverify:\n  min-cosine: 0.999\n  latency: true\n' > "$recipe"
fi

mkdir -p "$out"
name=$(basename "$model")
# A broken budget still writes the report (and exits non-zero): screenshot it anyway, it is the report worth reading.
status=0
dotnet run --project "$repo/src/CompressTasks.Cli" -- run "$model" --recipe "$recipe" -o "$work/$name" --report-dir "$out" || status=$?
html="$out/$name.report.html"
[[ -f $html ]] || { echo "error: no report at $html (the CLI exited with $status)" >&2; exit 1; }

# A throw-away profile keeps the run from touching (or depending on) the user's Chromium settings.
"$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --no-first-run --user-data-dir="$work/profile" --screenshot="$out/$name.png" --window-size=1200,1600 \
  "file://$html" 2>/dev/null
echo "$out/$name.png"
exit "$status"
