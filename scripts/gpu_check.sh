#!/usr/bin/env bash
# The project's GPU check, made for ONE call on the lent device machine (an H200 with python3.12,
# torch + CUDA, transformers, peft, accelerate; nothing can be downloaded there). It runs from
# the repository root and writes everything that should come back under $OUT:
#
#   0. unpack .gpu-carry/site.tar.xz (scripts/gpu_pack.sh: ray, bitsandbytes, open_spiel, trl,
#      datasets, peft, ...) into /tmp/site; print the device, library versions, an import check
#      and one 4-bit bitsandbytes matmul on CUDA                     -> gpu_check.log
#   1. scripts/bench_engine.py: the LLM engine on a Qwen2-0.5B-shaped random model in bf16
#                                                                          -> engine.md
#   2. scripts/bench_training_gpu.py: QLoRA SFT then DPO via `arena train` on the small base
#      and on the 0.5B-shaped model: steps/s, tokens/s, peak GPU memory, weights moved
#                                                           -> training.md, training_manifests.json
#   3. one night, `arena nightly --config configs/gpu-night.toml` (LLM actors and training on
#      the GPU) on the carried small base                  -> night_report.md, night_report.json
#   4. the test suite's CUDA tests (pytest -m gpu on the files that have them)
#
# plus gpu_check.log (all output), summary.md (each step's exit code and seconds) and
# extras.tar.gz (the night's files, Ray's logs). Every step runs under `timeout`, and all of
# them within one deadline (GPU_CHECK_BUDGET_S, 480 s), so the call ends in about 8 minutes
# whatever hangs; a failed step leaves the others' output.
#
#   device:  bash scripts/gpu_check.sh                    (carry: .gpu-carry)
#   again:   GPU_CHECK_STEPS="night" bash scripts/gpu_check.sh   (some steps only, same machine)
#   here:    a rehearsal on a CPU (miniature shapes, GPU shares set to 0; catches argument and
#            packaging mistakes, measures nothing), with the same packages built for this Python:
#            PYVER=3.11 WHEELS=/tmp/w311 CARRY=/tmp/c311 NO_BASE=1 XZ_LEVEL=1 scripts/gpu_pack.sh
#            cp -r .gpu-carry/base /tmp/c311/ && GPU_CHECK_CPU=1 GPU_CHECK_CARRY=/tmp/c311 \
#              GPU_CHECK_SITE=/tmp/site311 GPU_CHECK_PY=python3.11 GPU_CHECK_LIMIT_X=10 \
#              GPU_CHECK_BUDGET_S=9000 OUT=/tmp/gpu-out bash scripts/gpu_check.sh
#            (python3.11: one with torch, transformers, accelerate but none of the packed ones)
#
# $OUT brings back 8 files at most: the 8 above; put anything more into extras.tar.gz.
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
OUT=${OUT:-/tmp/gpu-check-out}
PY=${GPU_CHECK_PY:-python3}
CARRY=${GPU_CHECK_CARRY:-$ROOT/.gpu-carry}
SITE=${GPU_CHECK_SITE:-/tmp/site}
WORK=${GPU_CHECK_WORK:-/tmp/gpu-check}
CPU=${GPU_CHECK_CPU:-}
STEPS=${GPU_CHECK_STEPS:-engine training night tests} # a rerun may name fewer
DEADLINE=$((SECONDS + ${GPU_CHECK_BUDGET_S:-480}))
mkdir -p "$OUT" "$WORK"
rm -f "$WORK/night_manifests.txt" "$WORK/env.txt"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
TEE=$!
export ROOT OUT PY CARRY SITE WORK CPU
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
export TRANSFORMERS_OFFLINE=1 RAY_USAGE_STATS_ENABLED=0 MPLBACKEND=Agg
SUMMARY=$OUT/summary.md
{
  echo "# GPU check $(date -u +%FT%TZ)"
  echo
  echo "Exit 124: killed at its limit. The night: 0 promoted, 3 rejected (both finished), 1 failed."
  echo
  echo "| step | exit | seconds | limit |"
  echo "|---|---:|---:|---:|"
} >"$SUMMARY"
FAILED=0

# step NAME LIMIT_S CMD...: CMD under a hard timeout, cut to what is left before the deadline
step() {
  local name=$1 limit=$(($2 * ${GPU_CHECK_LIMIT_X:-1}))
  shift 2
  local left=$((DEADLINE - SECONDS - 5))
  ((left < limit)) && limit=$left
  if ((limit < 15)); then
    echo "+++ $(date +%T) [$name] SKIPPED: ${left}s left before the deadline"
    echo "| $name | skipped (no time) | 0 | 0 |" >>"$SUMMARY"
    FAILED=$((FAILED + 1))
    return 124
  fi
  echo "+++ $(date +%T) [$name] start (limit ${limit}s): $*"
  local t0=$SECONDS rc
  timeout -k 10 "$limit" bash -c '"$@"' "$name" "$@" # a child bash: functions run too
  rc=$?
  echo "+++ $(date +%T) [$name] exit $rc after $((SECONDS - t0))s"
  echo "| $name | $rc | $((SECONDS - t0)) | $limit |" >>"$SUMMARY"
  [ "$name" = night ] && ((rc == 3)) && return 3 # a rejected candidate: a finished night
  ((rc != 0)) && FAILED=$((FAILED + 1))
  return $rc
}

unpack() {
  rm -rf "$SITE" && mkdir -p "$SITE"
  tar -xJf "$CARRY/site.tar.xz" -C "$SITE" ||
    "$PY" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter="tar")' \
      "$CARRY/site.tar.xz" "$SITE"
}

environment() {
  nvidia-smi || echo "(no nvidia-smi)"
  "$PY" - <<'EOF'
import importlib, importlib.metadata as md, platform, sys
print("python", platform.python_version(), sys.executable)
names = ["torch", "transformers", "tokenizers", "safetensors", "accelerate", "huggingface-hub",
         "peft", "trl", "datasets", "bitsandbytes", "ray", "open-spiel", "numpy", "scipy",
         "pandas", "pyarrow", "fsspec", "dill", "multiprocess", "xxhash", "jinja2", "matplotlib",
         "aiohttp", "grpcio", "protobuf", "jsonschema", "ml-collections", "psutil"]
for name in names:
    try:
        dist = md.distribution(name)
        print(f"{name:16} {dist.version:14} {dist.locate_file('')}")
    except md.PackageNotFoundError:
        print(f"{name:16} MISSING")
failed = []
for mod in ["torch", "transformers", "peft", "trl", "datasets", "bitsandbytes", "ray", "pyspiel",
            "open_spiel.python.algorithms.exploitability", "arena.cli", "training.sft",
            "training.dpo", "agents.llm.engine"]:
    try:
        importlib.import_module(mod)
    except Exception as error:  # report every one, not just the first
        failed.append(mod)
        print(f"IMPORT FAILED {mod}: {type(error).__name__}: {error}")
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if torch.cuda.is_available():
    import bitsandbytes as bnb
    print(torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0))
    layer = bnb.nn.Linear4bit(256, 256, compute_dtype=torch.bfloat16, quant_type="nf4").cuda()
    x = torch.randn(8, 256, device="cuda", dtype=torch.bfloat16)
    print("bitsandbytes nf4 matmul on CUDA:", tuple(layer(x).shape), "ok")
sys.exit(1 if failed else 0)
EOF
}

night_config() {
  if [ -n "$CPU" ]; then  # the same night with the GPU shares at 0
    sed -E 's/^(gpus_per_worker|train_gpus) *= *[0-9.]+/\1 = 0.0/' configs/gpu-night.toml \
      >"$WORK/cpu-night.toml"
    echo "$WORK/cpu-night.toml"
  else
    echo configs/gpu-night.toml
  fi
}

night() {
  local ws=$WORK/ws
  rm -rf "$ws" && mkdir -p "$ws/base" && cp -r "$CARRY/base/small" "$ws/base/small"
  "$PY" -m arena --workspace "$ws" nightly --config "$(night_config)" --night gpu-1
}

night_manifests() { # where each training of the night ran, and its peak GPU memory
  "$PY" - "$WORK/ws" <<'EOF'
import json, pathlib, sys
for path in sorted(pathlib.Path(sys.argv[1], "adapters").glob("**/manifest.json")):
    m = json.loads(path.read_text())
    x = m.get("metrics", {})
    print(f"{path.parent.name}: {m.get('kind')} on {x.get('device')}, {m.get('steps')} steps in "
          f"{m.get('stages', {}).get('train')} s, peak GPU {x.get('peak_gpu_mib')} MiB allocated "
          f"/ {x.get('peak_gpu_reserved_mib')} reserved, loss {x.get('first_loss')} -> "
          f"{x.get('final_loss')}, gpu {m.get('hardware', {}).get('gpu')}")
EOF
}

export -f unpack environment night_config night night_manifests
wanted() { [[ " $STEPS " == *" $1 "* ]]; }

echo "+++ $(date +%T) GPU check in $ROOT, OUT=$OUT, steps: $STEPS, cpu rehearsal: ${CPU:-no}"
if wanted unpack || [ ! -d "$SITE/ray" ]; then step unpack 40 unpack; fi
export PYTHONPATH=$SITE:$ROOT
step environment 60 environment >"$WORK/env.txt" 2>&1
cat "$WORK/env.txt" # (in gpu_check.log: $OUT brings back 8 files at most)

if [ -n "$CPU" ]; then
  ENGINE=(--gpu-device cpu --gpu-shape mini --gpu-states 32 --naive-moves 4 --repeats 1)
  TRAIN=(--device cpu --qwen-shape mini --steps 2 --batch-size 4)
else
  ENGINE=(--gpu-states 1024 --naive-moves 32 --repeats 3)
  TRAIN=(--steps 30 --batch-size 16)
fi
if wanted engine; then
  step engine 100 "$PY" scripts/bench_engine.py --base "$CARRY/base/small" --dtypes "" \
    "${ENGINE[@]}" --out "$OUT/engine.md"
fi
if wanted training; then
  step training 160 "$PY" scripts/bench_training_gpu.py --small "$CARRY/base/small" \
    --work "$WORK/train" "${TRAIN[@]}" --out "$OUT/training.md" \
    --manifests "$OUT/training_manifests.json"
fi
if wanted night; then
  step night 240 night
  rc=$?
  if ((rc == 124 || rc == 137)) && [ -z "$CPU" ]; then # killed: stop its Ray daemons (own VM)
    "$PY" -m ray.scripts.scripts stop --force
  fi
  report=$WORK/ws/nights/gpu-1
  cp "$report/report.md" "$OUT/night_report.md" || echo "(no night report.md)"
  cp "$report/report.json" "$OUT/night_report.json" || echo "(no night report.json)"
  timeout 30 bash -c night_manifests >"$WORK/night_manifests.txt" 2>&1
fi
if wanted tests; then
  step gpu-tests 45 "$PY" -m pytest -q -m gpu -p no:cacheprovider \
    tests/agents/test_llm_engine.py tests/training/test_manifest.py
fi

# the night's small files (and, on the device, Ray's logs) for a post-mortem
logs=()
[ -z "$CPU" ] && logs=(/tmp/ray/session_latest/logs)
(
  cd "$WORK" && find ws/nights ws/adapters ws/runs train/*/manifest.json ${logs[@]+"${logs[@]}"} \
    -type f -size -1024k 2>/dev/null | head -500 | tar -czf "$OUT/extras.tar.gz" -T - 2>/dev/null
)
if [ -s "$WORK/night_manifests.txt" ]; then
  printf '\nThe night'"'"'s trainings (their manifests):\n\n' >>"$SUMMARY"
  sed 's/^/- /' "$WORK/night_manifests.txt" >>"$SUMMARY"
fi
echo "+++ $(date +%T) done, $FAILED step(s) failed; $OUT:"
ls -la "$OUT"
cat "$SUMMARY"
exec >&- 2>&-
for _ in $(seq 20); do kill -0 "$TEE" 2>/dev/null && sleep 0.5; done # let tee finish the log
exit $((FAILED > 0))
