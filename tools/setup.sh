#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the main job need. Idempotent.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libeigen3-dev libopenblas-openmp-dev doctest-dev libfmt-dev libstb-dev zlib1g-dev
  libcli11-dev nlohmann-json3-dev
  libopenmpi-dev openmpi-bin
  dataset-fashion-mnist
  python3-torch python3-torchvision python3-sklearn python3-numpy
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all packages present"
