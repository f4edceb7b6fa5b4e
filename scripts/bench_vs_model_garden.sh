#!/usr/bin/env bash
# Training speed of deeplab_tf against TensorFlow Model Garden (see bench_vs_model_garden.py).
#
#   scripts/bench_vs_model_garden.sh --batch_size=4 --input_size=512,512 --mixed_precision=none,bfloat16 [--qat]
#
# Model Garden comes from PyPI (tf-models-official) into a virtualenv of its own, MG_VENV
# (default /tmp/deeplab-model-garden-venv), never into the project's environment. The venv sees
# the project's packages (--system-site-packages), so both sides run on the same TensorFlow;
# tf-models-official 2.20 pins tensorflow~=2.20, so it goes in with --no-deps plus the few
# modules its vision code imports.
set -euo pipefail

MG_VENV=${MG_VENV:-/tmp/deeplab-model-garden-venv}
MG_VERSION=${MG_VERSION:-2.20.0}
here=$(cd "$(dirname "$0")" && pwd)

if ! "$MG_VENV/bin/python" -c "import official.vision.modeling.factory" 2>/dev/null; then
  python -m venv --system-site-packages "$MG_VENV"
  "$MG_VENV/bin/pip" install -q --no-deps "tf-models-official==$MG_VERSION"
  "$MG_VENV/bin/pip" install -q gin-config pycocotools matplotlib
fi
# MG_SCRIPT: another script of this folder to run in the venv (bench_export_vs_model_garden.sh sets it).
exec "$MG_VENV/bin/python" "$here/${MG_SCRIPT:-bench_vs_model_garden.py}" "$@"
