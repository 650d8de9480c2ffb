#!/usr/bin/env bash
# Unpacks the Debian packages the CUDA build needs into third_party/cuda-deps/root (git-ignored), for a
# GPU machine that has nvcc, cmake and a C++ compiler but no internet and no apt. Run it here, on a
# Debian 12 machine with apt access; tools/gpu_check.sh then points CMake, pkg-config, the compiler
# and the loader at that folder. Headers, CMake/pkg-config files and shared libraries only: static
# libraries, docs and man pages are dropped to keep the folder small (the device tool carries at most
# 64 MiB of working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=third_party/cuda-deps
ROOT=$DEST/root
PKGS=(
  # headers (+ CMake config files) of the build's dependencies
  libeigen3-dev libfmt-dev nlohmann-json3-dev zlib1g-dev libstb-dev doctest-dev libcli11-dev
  libopenblas-openmp-dev
  # their run-time libraries
  libfmt9 libstb0 zlib1g libopenblas0-openmp libgfortran5 libquadmath0 libgomp1
  # pkg-config (CMake's FindPkgConfig needs the program; the project finds stb through it)
  pkgconf-bin libpkgconf3
)

mkdir -p "$DEST/debs"
rm -rf "$ROOT"
mkdir -p "$ROOT"
(cd "$DEST/debs" && rm -f ./*.deb && apt-get download "${PKGS[@]}")
for deb in "$DEST"/debs/*.deb; do
  dpkg -x "$deb" "$ROOT"
done
# Trim what the build never reads.
rm -rf "$ROOT/usr/share/doc" "$ROOT/usr/share/man" "$ROOT/usr/share/lintian" "$ROOT/usr/share/doc-base"
find "$ROOT" -name '*.a' -delete
rm -rf "$ROOT/usr/include/eigen3/unsupported"
# The engine links libopenblas itself; the reference BLAS/LAPACK names it also ships are not needed.
rm -f "$ROOT"/usr/lib/x86_64-linux-gnu/openblas-openmp/lib{blas,lapack}.so*
rm -rf "$DEST/debs"
# Absolute symlinks (zlib1g-dev's libz.so -> /lib/...) would point at the host's files: make them
# relative, into this folder.
find "$ROOT" -type l -lname '/*' | while read -r link; do
  target=$(readlink "$link")
  if [ -e "$ROOT$target" ]; then
    ln -sfn "$(realpath --relative-to="$(dirname "$link")" "$ROOT$target")" "$link"
  fi
done
# pkgconf installs as `pkgconf`; CMake looks for `pkg-config`.
if [ -x "$ROOT/usr/bin/pkgconf" ] && [ ! -e "$ROOT/usr/bin/pkg-config" ]; then
  ln -s pkgconf "$ROOT/usr/bin/pkg-config"
fi
# Debian's alternatives system normally links libopenblas.so.0 into the main library directory; do the same.
LIBDIR=$ROOT/usr/lib/x86_64-linux-gnu
if [ -e "$LIBDIR/openblas-openmp/libopenblas.so.0" ] && [ ! -e "$LIBDIR/libopenblas.so.0" ]; then
  ln -s openblas-openmp/libopenblas.so.0 "$LIBDIR/libopenblas.so.0"
fi
# One compressed archive as well: it is what to carry to the GPU machine (tools/gpu_check.sh unpacks it
# when root/ is absent), a fraction of the unpacked size.
tar -C "$DEST" -cJf "$DEST/root.tar.xz" root
echo "prepare_gpu_deps: $(du -sh "$ROOT" | cut -f1) in $ROOT, $(du -sh "$DEST/root.tar.xz" | cut -f1) in $DEST/root.tar.xz"
