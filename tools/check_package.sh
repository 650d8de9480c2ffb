#!/usr/bin/env bash
# Checks that other CMake projects can use the engine both ways: find_package after `cmake --install`,
# and add_subdirectory of the source tree (CPU-only). Builds and runs examples/consumer each way.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TMP=${TMP_PKG:-$ROOT/build-package}
rm -rf "$TMP" && mkdir -p "$TMP"
cmake -S . -B "$TMP/engine" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRESA_CUDA=OFF -DRESA_BUILD_TESTS=OFF \
  -DRESA_BUILD_APPS=OFF -DCMAKE_INSTALL_PREFIX="$TMP/prefix" > "$TMP/engine.log"
cmake --build "$TMP/engine" --parallel "$(nproc)" >> "$TMP/engine.log"
cmake --install "$TMP/engine" >> "$TMP/engine.log"
cmake -S examples/consumer -B "$TMP/find" -G Ninja -DCMAKE_PREFIX_PATH="$TMP/prefix" > "$TMP/find.log"
cmake --build "$TMP/find" >> "$TMP/find.log"
"$TMP/find/consumer"
(cd "$TMP/find" && ./consumer_embed)
echo "package: find_package(resa) after install works"
cmake -S examples/consumer -B "$TMP/sub" -G Ninja -DRESA_SOURCE_DIR="$ROOT" -DRESA_CUDA=OFF > "$TMP/sub.log"
cmake --build "$TMP/sub" --parallel "$(nproc)" >> "$TMP/sub.log"
"$TMP/sub/consumer"
(cd "$TMP/sub" && ./consumer_embed)
echo "package: add_subdirectory works"
