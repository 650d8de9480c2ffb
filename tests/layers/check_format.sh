#!/usr/bin/env bash
# Fails, naming the files, when a C++/CUDA source does not follow .clang-format (tools/format.sh fixes
# them). Skips with a message where clang-format is not installed.
set -uo pipefail
root=${1:-$(dirname "$0")/../..}
cd "$root" || exit 2
if ! command -v clang-format >/dev/null 2>&1; then
  echo "check_format skipped: clang-format is not installed (apt-get install clang-format)"
  exit 0
fi
bad=()
while IFS= read -r f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(find core ops autograd nn resa apps tests examples -type f \( -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh' \) -not -path '*/fixtures/*')
if [ ${#bad[@]} -gt 0 ]; then
  echo "${#bad[@]} file(s) do not follow .clang-format (run tools/format.sh):"
  printf '  %s\n' "${bad[@]}"
  exit 1
fi
echo "every source follows .clang-format"
