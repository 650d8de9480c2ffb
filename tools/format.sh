#!/usr/bin/env bash
# Applies .clang-format to every C++/CUDA source of the project (third_party excluded), in place.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | grep -v '^third_party/' | xargs clang-format -i
