#!/usr/bin/env bash
# Train deeplabv3plus_mnv2_camvid on CamVid (SegNet layout) from random initialisation,
# then evaluate the best checkpoint on val. Resumable: re-running continues where it stopped.
#
#   bash scripts/train_camvid.sh [CAMVID_DIR] [WORKDIR] [extra deeplab-train flags...]
#
# Defaults: CAMVID_DIR=../shared/datasets/camvid, WORKDIR=runs/camvid.
set -euo pipefail
camvid=${1:-../shared/datasets/camvid}
workdir=${2:-runs/camvid}
shift $(( $# > 2 ? 2 : $# ))
records="$workdir/records"
model_dir="$workdir/model"

if [ ! -f "$records/dataset.json" ]; then
  deeplab-convert --dataset=camvid --data_dir="$camvid" --output_dir="$records" --splits=train,val
fi
deeplab-train --experiment=deeplabv3plus_mnv2_camvid --model_dir="$model_dir" --data_dir="$records" "$@"
deeplab-eval --checkpoint="$(ls -1 "$model_dir"/best/ckpt-*.index | sort -V | tail -n 1 | sed 's/\.index$//')" \
  --data_dir="$records" --split=val --output_json="$workdir/eval_val.json"
