#!/usr/bin/env bash
# Exported .tflite files of deeplab_tf against TensorFlow Model Garden's (see bench_export_vs_model_garden.py).
#
#   scripts/bench_export_vs_model_garden.sh [--architectures=v3plus,v3] [--rounds=3] [--json]
#
# Runs in the Model Garden virtualenv that scripts/bench_vs_model_garden.sh makes (MG_VENV,
# default /tmp/deeplab-model-garden-venv: tf-models-official --no-deps over the project's
# packages, so both sides convert with the same TensorFlow).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MG_SCRIPT=bench_export_vs_model_garden.py exec "$here/bench_vs_model_garden.sh" "$@"
