#!/usr/bin/env bash
# Download, on a machine with package-registry access, the wheels the GPU check needs that the
# GPU image lacks (pydantic and its parts; Python 3.12, x86-64) into .whl/ at the repo root.
# gpu_check.sh installs them from there into a temporary folder when `import pydantic` fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  pydantic==2.13.4 pydantic-core==2.46.4 annotated-types==0.7.0 typing-inspection==0.4.2
ls -la .whl
