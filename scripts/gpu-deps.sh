#!/usr/bin/env bash
# Downloads into .deps/debs/ the Debian packages that a GPU device machine lacks for building and
# testing trim, so they can travel with the working tree (the device has no network and no apt):
# scripts/gpu-check.sh unpacks them there with dpkg -x. Run here, on a Debian amd64 machine with
# apt. Idempotent: packages already downloaded are kept. Fails before downloading when the total
# would exceed the budget, because the carried folder shares the device tool's 64 MiB transfer
# limit with the working tree.
#
# The device image (Ubuntu, CUDA toolkit, PyTorch with cuDNN/NCCL wheels, gcc, CMake, ninja) has
# libc, libstdc++, libgomp and zlib's runtime; it lacks the -dev packages below, OpenBLAS and its
# Fortran runtime. zlib1g itself is left out on purpose: its .so symlink in zlib1g-dev points to an
# absolute path, so gpu-check.sh links the device's own libz.so.1 and takes only the header.
set -euo pipefail

budget_mib=48
packages=(
  libopenblas0-openmp libopenblas-openmp-dev  # CPU GEMM, the OpenMP build trim uses
  libgfortran5 libquadmath0                   # OpenBLAS's runtime deps absent on a PyTorch machine
  nlohmann-json3-dev catch2 libfmt-dev libfmt9 libcli11-dev
  zlib1g-dev                                  # zlib.h (FindZLIB)
  libturbojpeg0 libturbojpeg0-dev             # JPEG decoding (data/image_folder)
  libpng16-16 libpng-dev                      # PNG decoding
  dataset-fashion-mnist                       # /usr/share/datasets/fashion-mnist/*.gz
)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/.deps/debs"
mkdir -p "$dest"

arch=$(dpkg --print-architecture)
if [ "$arch" != amd64 ]; then
  echo "gpu-deps: this machine is $arch; the device machines are amd64 and need amd64 packages" >&2
  exit 1
fi

have() { compgen -G "$dest/${1}_*_*.deb" >/dev/null; }

# Size of a package's candidate .deb, as apt would download it (0 when apt does not know it).
deb_size() {
  apt-cache show --no-all-versions "$1" 2>/dev/null | awk '/^Size:/ {print $2; exit}'
}

missing=()
for p in "${packages[@]}"; do have "$p" || missing+=("$p"); done

if [ ${#missing[@]} -gt 0 ]; then
  # Refresh the package lists only when apt does not know a package we need.
  for p in "${missing[@]}"; do
    if [ -z "$(deb_size "$p")" ]; then
      echo "gpu-deps: apt does not know $p yet; running apt-get update"
      if [ "$(id -u)" -eq 0 ]; then apt-get update -qq; else sudo apt-get update -qq; fi
      break
    fi
  done

  # Projected total = what is already here + what would be downloaded.
  total=0
  for p in "${packages[@]}"; do
    if have "$p"; then
      total=$((total + $(stat -c %s "$dest/${p}"_*_*.deb | head -1)))
    else
      size=$(deb_size "$p")
      if [ -z "$size" ]; then
        echo "gpu-deps: apt knows no package named $p (after apt-get update)" >&2
        exit 1
      fi
      total=$((total + size))
    fi
  done
  if [ "$total" -gt $((budget_mib * 1024 * 1024)) ]; then
    echo "gpu-deps: the packages would take $((total / 1024 / 1024)) MiB, over the ${budget_mib} MiB budget" \
         "(the device tool carries at most 64 MiB with the working tree); nothing downloaded" >&2
    exit 1
  fi

  echo "gpu-deps: downloading ${missing[*]}"
  # apt-get download writes into the current folder.
  (cd "$dest" && apt-get download -q "${missing[@]}")
  for p in "${missing[@]}"; do
    have "$p" || { echo "gpu-deps: apt-get download did not produce a .deb for $p" >&2; exit 1; }
  done
fi

# Report what will travel. Stray .debs (older versions, packages dropped from the list) would be
# unpacked on the device too, so name them.
total=0
count=0
for f in "$dest"/*.deb; do
  total=$((total + $(stat -c %s "$f")))
  count=$((count + 1))
  name=$(basename "$f")
  known=no
  for p in "${packages[@]}"; do [[ "$name" == "${p}_"* ]] && known=yes; done
  printf '  %8d KiB  %s%s\n' $(($(stat -c %s "$f") / 1024)) "$name" \
    "$([ $known = no ] && echo '   (not in the list: delete it unless you want it on the device)')"
done
echo "gpu-deps: $count packages, $((total / 1024)) KiB ($(awk "BEGIN {printf \"%.1f\", $total / 1048576}") MiB) in .deps/debs"
if [ "$total" -gt $((budget_mib * 1024 * 1024)) ]; then
  echo "gpu-deps: over the ${budget_mib} MiB budget" >&2
  exit 1
fi
