#!/usr/bin/env bash
# Everything a borrowed CUDA machine should run, in one go (benchmarks/README.md, "GPU"):
#   1. tests: the task test suite with every run sent to the GPU, plus tests/solver/test_cuda.py (CPU parity);
#   2. speed: speed.py on CUDA, our defaults and the reference recipe (estimated from a short run) at
#      128/256/512 px;
#   3. periter: speed.py's per-iteration comparison (naive loop, engine, bf16, cuDNN autotuner);
#   4. precision: precision.py on CUDA, float32 against bf16 autocast, speed and quality, every task at 512 px.
# Needs only the solver's dependencies (torch with CUDA, numpy, scikit-image, scipy, pytest): no napari or Qt.
# Each phase has a time limit (540 s in all, within a 600 s command), so one slow phase cannot starve the
# others; logs and tables go to OUTDIR (default: $OUT if set, as on a borrowed machine, else results/gpu).
#
#   bash benchmarks/gpu.sh [OUTDIR [PYTHON]]   (exit status 1 if a phase failed or was cut off)
set -u
OUT=${1:-${OUT:-results/gpu}}
PY=${2:-python3}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)  # relative paths: from where the script is called
case "$PY" in */*) PY=$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY") ;; esac
cd "$(dirname "$0")/.."
rm -f "$OUT/test_failures.log"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
FAILED=""
phase() {  # phase NAME SECONDS COMMAND...
  local name=$1 limit=$2
  shift 2
  echo "== $name: start $(date +%T), limit ${limit}s"
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n "${TAIL:-40}" "$OUT/$name.log"
  echo "== $name: rc=$rc, end $(date +%T)"
  [ "$rc" -eq 0 ] || FAILED="$FAILED $name"
}
if ! "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  echo "== no CUDA device for $PY (torch.cuda.is_available() is False): nothing to measure" | tee "$OUT/gpu.txt"
  exit 1
fi
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 | tee "$OUT/gpu.txt"
"$PY" -c "import torch, numpy, skimage; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name(0), 'numpy', numpy.__version__, 'skimage', skimage.__version__)" 2>&1 | tee -a "$OUT/gpu.txt"
XDIST=""  # pytest-xdist (in the testing extras) runs the tests in JOBS workers; without it, one process
"$PY" -c "import xdist" 2>/dev/null && XDIST="-n ${JOBS:-6}"
[ -z "$XDIST" ] && echo "== pytest-xdist not installed: the tests run in one process"
# Failures are written as they happen (the phase may be cut off before pytest's summary); each worker keeps to a
# few CPU threads, since on a GPU the tests wait on kernel launches, not on the cores.
TAIL=25 phase tests "${TEST_LIMIT:-150}" env NAPARI_DOUBLEDIP_TEST_DEVICE=cuda OMP_NUM_THREADS=2 \
  NAPARI_DOUBLEDIP_FAILURE_LOG="$OUT/test_failures.log" "$PY" -m pytest -v -rfE -p no:cacheprovider \
  $XDIST tests/solver/test_cuda.py tests/tasks
TAIL=60 phase speed "${SPEED_LIMIT:-240}" "$PY" benchmarks/speed.py --device cuda --in-process \
  --reference-full-sizes "" --sizes "${SIZES:-128,256,512}" --sections recipes --out "$OUT/speed_cuda"
TAIL=30 phase periter "${PERITER_LIMIT:-50}" "$PY" benchmarks/speed.py --device cuda --in-process \
  --sizes 128,512 --sections periter --periter-iterations 40 --out "$OUT/periter_cuda"
TAIL=20 phase precision "${PRECISION_LIMIT:-100}" "$PY" benchmarks/precision.py --device cuda --size 512 \
  --seeds 0 --out "$OUT/precision_cuda"
# Every phase runs whatever the others did; the exit status says whether all of them passed.
if [ -n "$FAILED" ]; then echo "== failed or cut off:$FAILED"; exit 1; fi
