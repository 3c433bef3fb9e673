#!/usr/bin/env bash
# Every GPU check of the accelerator path in one command (docs/gpu.md):
#   bash scripts/gpu_check.sh [MNIST_DIR]           # on a GPU machine; MNIST_DIR default ../shared/data/mnist
#   bash scripts/gpu_check.sh --cpu [MNIST_DIR]     # dry mode: the same command lines, each with --smallest
#                                                   # (tiny sizes; CPU without CUDA); CI runs it (--smallest too)
#   options: --budget SECONDS (default 450 on a GPU, 900 dry; the whole run stays inside it)
# Writes under $OUT when set, else ./gpu-check/: gpu-check.log (everything printed), gpu-check.json (the
# figures), and each part's own JSON / log. Parts, each with its own time limit, most important first:
#   setup     carried wheels (.whl/ from ../shared/tools/device-wheels.sh) into /tmp/site, the MNIST store
#   tests     pytest -m gpu tests/gpu: recipe on the GPU, host syncs, cuda_oom and NaN trials
#   fit       scripts/bench_fit.py --gpu: autolit.fit vs hand-written loop, seconds to 99% MNIST test
#   packing   scripts/bench_search.py --gpu: trials/hour for --per-device 1,2,4,8, MPS, threads
#   variants  scripts/bench_fit.py --parts variants: what each speed key gives, torch.compile, CUDA graphs
set -uo pipefail
cd "$(dirname "$0")/.."

mode=gpu mnist=../shared/data/mnist budget=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu|--smallest) mode=cpu ;;
    --budget) budget="$2"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "error: unknown option $1; use --cpu (--smallest), --budget SECONDS or an MNIST folder" >&2; exit 2 ;;
    *) mnist="$1" ;;
  esac
  shift
done
if [ ! -d "$mnist" ]; then
  echo "error: MNIST folder $mnist not found; pass the folder holding the IDX files (on the GPU machine copy" \
       "../shared/data/mnist into .data/mnist and carry .data)" >&2
  exit 2
fi
dest=${OUT:-./gpu-check}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
cleanup() {  # an MPS daemon left by a packing run stopped at its limit; then the scratch folder
  if [ -e "$work/mps/mps-pipe/control" ] && command -v nvidia-cuda-mps-control >/dev/null; then
    echo quit | CUDA_MPS_PIPE_DIRECTORY="$work/mps/mps-pipe" timeout 20 nvidia-cuda-mps-control || true
  fi
  rm -rf "$work"
  exec 1>&- 2>&-; [ -n "${tee_pid:-}" ] && wait "$tee_pid" 2>/dev/null  # the log is complete when we return
}
trap cleanup EXIT
export AUTOLIT_MPS_DIR="$work/mps"
exec > >(tee "$dest/gpu-check.log") 2>&1
tee_pid=$!
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
py=$(command -v python3 || command -v python)
start=$(date +%s)
budget=${budget:-$([ "$mode" = gpu ] && echo 450 || echo 900)}
: > "$work/parts.tsv"

# run PART LIMIT CMD...: at most LIMIT seconds (the GPU's; doubled in the dry run, on a shared CPU where
# the imports alone take a minute) and never past the budget; rc and seconds into parts.tsv
run() {
  local part=$1 limit=$2; shift 2
  [ "$mode" = cpu ] && limit=$(( limit * 2 ))
  local left=$(( budget - ($(date +%s) - start) - 10 ))
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $part (limit ${limit}s) =="
  if [ "$limit" -lt 15 ]; then
    echo "skipped: the budget is spent"; printf '%s\t%s\t%s\n' "$part" skipped 0 >> "$work/parts.tsv"; return
  fi
  local t0=$(date +%s) rc
  if [ "$(type -t "$1")" = function ]; then "$@"; rc=$?; else timeout --kill-after=10 "$limit" "$@"; rc=$?; fi
  printf '%s\t%s\t%s\n' "$part" "$rc" "$(( $(date +%s) - t0 ))" >> "$work/parts.tsv"
  [ $rc -eq 124 ] && echo "($part stopped at its ${limit}s limit)"
}

setup() {
  if [ "$mode" = gpu ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || return 1
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
  fi
  "$py" - "$work/env.json" "$mode" <<'EOF' || return 1
import json, platform, sys
import lightning, optuna, torch
if sys.argv[2] == "gpu":
    import autolit.fit  # noqa: F401 - the carried wheels make the whole fit path importable
env = {"python": platform.python_version(), "torch": torch.__version__, "lightning": lightning.__version__,
       "optuna": optuna.__version__, "cuda": torch.cuda.is_available()}
if env["cuda"]:
    p = torch.cuda.get_device_properties(0)
    env |= {"gpu": p.name, "gpu_memory_gib": round(p.total_memory / 2**30, 1), "cuda_version": torch.version.cuda}
open(sys.argv[1], "w").write(json.dumps(env) + "\n")
print(env)
EOF
  if [ "$mode" = cpu ]; then  # a small real MNIST (the --smallest benchmarks' size): same import path
    "$py" scripts/mnist_subset.py "$mnist" "$work/mnist" --train 2000 --test 200 || return 1
    mnist="$work/mnist"
  fi
  [ "$mode" = gpu ] && nvidia-smi || true
  "$py" -m autolit.store import idx "$mnist" --store "$store" || return 1
}

store=stores/mnist
[ "$mode" = cpu ] && store="$work/stores/mnist"
run setup 90 setup  # a function: runs in this shell, so what it exports (the wheels' path) stays

# The same command lines in both modes; the dry run adds --smallest (tiny sizes, the CPU where there is
# no CUDA), so a typo or a changed API fails here, not on the GPU machine.
small=()
[ "$mode" = cpu ] && small=(--smallest)
run tests 80 "$py" -m pytest -q -p no:cacheprovider -m gpu tests/gpu --junitxml "$dest/gpu-tests.xml"
run fit 100 "$py" scripts/bench_fit.py --gpu --mnist "$mnist" --mnist-store "$store" --rounds 3 \
  --json-out "$dest/bench_fit.json" ${small[@]+"${small[@]}"}
run packing 140 "$py" scripts/bench_search.py --gpu --mnist "$mnist" --mnist-store "$store" \
  --per-device 1,2,4,8 --pack-trials 8 --pack-extra mps,threads,alloc --json-out "$dest/bench_search.json" \
  ${small[@]+"${small[@]}"}
run variants 200 "$py" scripts/bench_fit.py --gpu --parts variants --mnist "$mnist" --mnist-store "$store" \
  --variants recipe,fp32,contiguous,unfused,batch1024,benchmark,compile,cudagraphs \
  --json-out "$dest/bench_fit_variants.json" ${small[@]+"${small[@]}"}

echo "== summary =="
"$py" scripts/gpu_check_summary.py "$dest" --work "$work" --mode "$mode" --seconds $(( $(date +%s) - start ))
