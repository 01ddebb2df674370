#!/usr/bin/env bash
# JPEG decode + RandomResizedCrop(224) + horizontal flip, images/s on one core: trim's image_folder
# dataset (trim-bench-data: DCT-scaled libjpeg-turbo decode, antialiased bilinear resampling) against
# PIL + torchvision (Image.open/convert, RandomResizedCrop, RandomHorizontalFlip, pil_to_tensor), on
# the same few hundred 500x375 JPEGs cut from real photographs, pinned to the same core, runs
# interleaved so that load from other processes hits both alike.
#   scripts/bench_jpeg.sh [build-dir] [rounds]      (default build-cpu, 3 rounds of 5 s each side)
# Needs pip packages pillow and torchvision (and fetches scikit-image's wheel for its photographs);
# not part of the tests.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build-cpu}"
rounds="${2:-3}"
work="${TRIM_BENCH_JPEG_DIR:-/tmp/trim-bench-jpeg}"
core="${TRIM_BENCH_CORE:-0}"
bench="$build/bin/trim-bench-data"
[ -x "$bench" ] || { echo "bench_jpeg: $bench not built (cmake --build $build)" >&2; exit 1; }
if [ ! -d "$work/train/photos" ]; then
  python3 "$here/scripts/bench_jpeg.py" photos "$work" --count 300
fi
export OMP_NUM_THREADS=1
ours=() theirs=()
for r in $(seq "$rounds"); do
  a=$(taskset -c "$core" "$bench" --root "$work" --size 224 --seconds 5)
  b=$(taskset -c "$core" python3 "$here/scripts/bench_jpeg.py" run "$work" --size 224 --seconds 5)
  echo "round $r  trim:        $a"
  echo "round $r  torchvision: $b"
  ours+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["images_per_second"])' "$a")")
  theirs+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["images_per_second"])' "$b")")
done
python3 - "${ours[*]}" "${theirs[*]}" <<'PY'
import statistics, sys
a = [float(x) for x in sys.argv[1].split()]
b = [float(x) for x in sys.argv[2].split()]
print(f"trim {statistics.median(a):.0f} img/s, PIL+torchvision {statistics.median(b):.0f} img/s (medians of "
      f"{len(a)} interleaved rounds, one core): ratio {statistics.median(a) / statistics.median(b):.2f}")
PY
