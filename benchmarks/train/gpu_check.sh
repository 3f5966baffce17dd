#!/usr/bin/env bash
# One-shot GPU check of the train stage (see gpu_check.py). From the repository root:
#     bash benchmarks/train/gpu_check.sh OUTDIR [gpu_check.py's options, e.g. --runs off:cuda-graph]
# Needs python3 with torch (CUDA) and numpy. pydantic is needed by lockgate; when the machine
# lacks it, put its wheels in .whl/ first (benchmarks/train/fetch_wheels.sh, on a machine with
# registry access) and this script installs them into a temporary folder. Budget: ~9 minutes
# (2 models x (2 precisions x 3 capture modes + amp auto) stage processes, plain loops).
set -uo pipefail
OUTDIR="${1:?usage: bash benchmarks/train/gpu_check.sh OUTDIR}"
mkdir -p "$OUTDIR"
PY="${PYTHON:-python3}"
if ! "$PY" -c "import pydantic" 2>/dev/null; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/lockgate-site .whl/*.whl || exit 2
    export PYTHONPATH="/tmp/lockgate-site${PYTHONPATH:+:$PYTHONPATH}"
  else
    echo "gpu_check: pydantic is missing and .whl/ has no wheels;" \
         "run benchmarks/train/fetch_wheels.sh where a registry is reachable" >&2
    exit 2
  fi
fi
export PYTHONUNBUFFERED=1 MLFLOW_DISABLE_TELEMETRY=true
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version \
  --format=csv,noheader | tee "$OUTDIR/nvidia-smi.txt"
timeout 540 "$PY" benchmarks/train/gpu_check.py "$OUTDIR" "${@:2}" 2>&1 | tee -a "$OUTDIR/gpu_check.log"
exit "${PIPESTATUS[0]}"
