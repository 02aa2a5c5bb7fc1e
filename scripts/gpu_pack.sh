#!/usr/bin/env bash
# Pack what scripts/gpu_check.sh needs on the device machine into .gpu-carry/ (git-ignored):
#
#   .gpu-carry/site.tar.xz   the packages pinned in scripts/gpu_wheels.txt, installed for CPython
#                            3.12 with `pip install --target` (as the device README says), pruned
#                            of what the arena never loads, then xz-compressed
#   .gpu-carry/base/small    the `small` base (arena base build --preset small --threads 1, ~5 min)
#
# Why a pruned tarball and not the wheels themselves: one device call carries at most 64 MiB
# (working tree included), and the wheels weigh 135 MB (ray 79, bitsandbytes 43, open_spiel 16).
# Most of that is never loaded here: Ray's Java jar (34 MB) and web dashboard, its libraries
# (rllib, serve, tune, train, data, llm), bitsandbytes' builds for other CUDA/ROCm versions than
# the device's CUDA 13, OpenSpiel's C++ sources and vendored abseil/json headers.
#
#   scripts/gpu_pack.sh                      # downloads the wheels to .whl/ if missing
#   WHEELS=/work/main/.whl CARRY=/work/main/.gpu-carry ARENA_PY=.venv/bin/python scripts/gpu_pack.sh
#   PYVER=3.11 WHEELS=/tmp/w311 OUT=/tmp/site311.tar.xz NO_BASE=1 scripts/gpu_pack.sh
#                                            # the same set for a local Python 3.11 (tests)
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PYVER=${PYVER:-3.12}
WHEELS=${WHEELS:-$ROOT/.whl}
CARRY=${CARRY:-$ROOT/.gpu-carry}
OUT=${OUT:-$CARRY/site.tar.xz}
PY=${PY:-python3}
ABI=cp${PYVER/./}
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64
  manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)
PLAT_ARGS=()
for p in "${PLATFORMS[@]}"; do PLAT_ARGS+=(--platform "$p"); done
PINS=$(grep -v '^#' scripts/gpu_wheels.txt | grep -v '^$')

mkdir -p "$WHEELS" "$(dirname "$OUT")"
for pin in $PINS; do
  name=${pin%%==*}
  version=${pin##*==}
  stem=$(echo "$name" | tr - _)
  if ! ls "$WHEELS"/"$stem"-"$version"-*.whl >/dev/null 2>&1; then
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
      --implementation cp "${PLAT_ARGS[@]}" -d "$WHEELS" "$pin"
  fi
done
count=$(ls "$WHEELS"/*.whl | wc -l)
pins=$(echo "$PINS" | wc -w)
if [ "$count" != "$pins" ]; then
  echo "gpu_pack: $WHEELS holds $count wheels for $pins pins (one version of each, please)" >&2
  exit 1
fi

site=$(mktemp -d /tmp/gpu-pack-site.XXXXXX)
trap 'rm -rf "$site"' EXIT
"$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --only-binary=:all: --python-version "$PYVER" --implementation cp --abi "$ABI" \
  --abi abi3 --abi none "${PLAT_ARGS[@]}" --target "$site" "$WHEELS"/*.whl

before=$(du -sm "$site" | cut -f1)
rm -rf "${site:?}"/bin \
  "$site"/ray/jars "$site"/ray/dashboard/client \
  "$site"/ray/rllib "$site"/ray/serve "$site"/ray/tune "$site"/ray/train "$site"/ray/data \
  "$site"/ray/llm "$site"/ray/workflow \
  "$site"/open_spiel/abseil-cpp "$site"/open_spiel/json
# bitsandbytes loads libbitsandbytes_cuda<torch.version.cuda>.so: 13.0 there (KINDS.md), 12.8 kept
# in case the image moves to torch's other default build; and the CPU one
find "$site"/bitsandbytes -maxdepth 1 -name 'libbitsandbytes_*.so' \
  ! -name '*_cuda13*' ! -name '*_cuda128.so' ! -name '*_cpu.so' -delete
find "$site"/open_spiel \( -name '*.cc' -o -name '*.h' -o -name 'CMakeLists.txt' \) -delete
find "$site" -depth -type d -empty -delete
after=$(du -sm "$site" | cut -f1)
tar -C "$site" -cf - . | xz "-${XZ_LEVEL:-9}" -T2 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "gpu_pack: $pins packages, $before MB installed, $after MB pruned, $(du -b "$OUT" | cut -f1) bytes in $OUT"

if [ -z "${NO_BASE:-}" ] && [ ! -f "$CARRY/base/small/model.safetensors" ]; then
  echo "gpu_pack: building the small base (a few minutes on one thread)"
  PYTHONPATH=$ROOT "${ARENA_PY:-python3}" -m arena base build --preset small --threads 1 \
    --out "$CARRY/base/small"
fi
