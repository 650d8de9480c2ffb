#!/usr/bin/env bash
# Include rules that one target per layer cannot enforce by itself (tests/layers/CMakeLists.txt):
#   - every project header is included with its layer prefix: "resa/<layer>/..." (or "resa/..." for ssl);
#   - core includes only core;
#   - ops/cpu and ops/cuda include core, ops' backend-neutral headers and their own folder only;
#   - above ops (autograd, nn, resa), nothing includes a backend header: ops/*.h is the interface;
#   - inside the ssl layer, resa/train (the run: config, setup, loop) is the top: nothing else in resa/
#     includes it, so eval/, methods/, data/ and dist/ are usable without a training run (train uses them).
# Apps (benchmarks that time one kernel) and tests may include backend headers.
set -uo pipefail
root=${1:-$(dirname "$0")/../..}
cd "$root" || exit 2
fail=0
report() { echo "layer rule broken: $1"; fail=1; }
src() { find "$@" -type f \( -name '*.h' -o -name '*.cpp' -o -name '*.cu' -o -name '*.cuh' \) 2>/dev/null; }
includes() { grep -HnE '^\s*#\s*include\s*"' "$@" 2>/dev/null; }

while IFS= read -r line; do
  inc=$(sed -E 's/.*#\s*include\s*"([^"]+)".*/\1/' <<<"$line")
  case "$inc" in
    resa/*) ;;
    *) [[ "$inc" == */* ]] && report "$line (project headers are included as \"resa/<layer>/...\")" ;;
  esac
done < <(includes $(src core ops autograd nn resa apps))

while IFS= read -r line; do report "$line (core includes only resa/core)"; done \
  < <(includes $(src core) | grep -vE '"resa/core/')
while IFS= read -r line; do report "$line (ops/cpu may not include ops/cuda, autograd, nn or ssl)"; done \
  < <(includes $(src ops/cpu) | grep -vE '"resa/core/|"resa/ops/[a-z_]+\.h"|"resa/ops/cpu/')
while IFS= read -r line; do report "$line (ops/cuda may not include ops/cpu, autograd, nn or ssl)"; done \
  < <(includes $(src ops/cuda) | grep -vE '"resa/core/|"resa/ops/[a-z_]+\.h"|"resa/ops/cuda/')
while IFS= read -r line; do report "$line (above ops, only ops/*.h: the backends are private to ops)"; done \
  < <(includes $(src autograd nn resa) | grep -E '"resa/ops/(cpu|cuda)/')
while IFS= read -r line; do report "$line (only resa/train includes resa/train: eval, methods, data, dist sit below it)"; done \
  < <(includes $(find resa -type f \( -name '*.h' -o -name '*.cpp' \) -not -path 'resa/train/*') | grep -E '"resa/train/')

if [ "$fail" -ne 0 ]; then exit 1; fi
echo "layer include rules hold"
