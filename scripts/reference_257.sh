#!/usr/bin/env bash
# The official TFLite demo model (deeplabv3_257_mv_gpu.tflite: DeepLab v3, MobileNetV2 0.5, PASCAL VOC),
# imported with its own weights and architecture, exported float, int8 PTQ and int8 QAT, and compared
# with the original file on real frames; the int8 mask file then goes into both apps.
# Resumable: each stage is skipped when its output exists.
#
#   bash scripts/reference_257.sh [SHARED_DIR] [WORKDIR] [--apps]
#
# Defaults: SHARED_DIR=../shared, WORKDIR=runs/reference_257. --apps puts the int8 PTQ mask export
# into mobile/android/app/src/main/assets and mobile/ios/DeepLabSegment/Models. QAT_STEPS=N (150);
# COMPARE=0 skips the comparison (time it on an idle machine: it measures latency).
#
# int8 needs real images: PTQ calibrates on CamVid street frames. QAT fine-tunes against the imported
# model's own classes on those frames (pseudo-labels from deeplab-predict: no PASCAL images here), so
# that the int8 model learns to reproduce the float one; at a low learning rate (1e-4), since the
# pseudo-labels, made on letterboxed frames, are not the float model's classes on the training crops.
set -euo pipefail
shared=${1:-../shared}
work=${2:-runs/reference_257}
apps=${3:-}
reference="$shared/reference/deeplabv3_257_mv_gpu.tflite"
camvid="$shared/datasets/camvid"
experiment=deeplabv3_mnv2_dm05_pascal_257
qat_steps=${QAT_STEPS:-150}
mkdir -p "$work"

[ -f "$work/float/import.json" ] || deeplab-import --source="$reference" --experiment=$experiment --model_dir="$work/float"

# Pseudo-labels: the float model's classes on CamVid's train and val frames, as a folder dataset.
for split in train val; do
  if [ ! -d "$work/pseudo/masks/$split" ]; then
    deeplab-predict --model_dir="$work/float" --input="$camvid/$split" --output_dir="$work/predict/$split"
    mkdir -p "$work/pseudo/images/$split" "$work/pseudo/masks/$split.tmp"
    for labels in "$work/predict/$split"/*_labels.png; do
      name=$(basename "$labels" _labels.png)
      cp "$labels" "$work/pseudo/masks/$split.tmp/$name.png"
      ln -sf "$(realpath "$camvid/$split/$name.png")" "$work/pseudo/images/$split/$name.png"
    done
    mv "$work/pseudo/masks/$split.tmp" "$work/pseudo/masks/$split"
  fi
done
python -c "
from deeplab_tf.data.registry import get_dataset_info
voc = get_dataset_info('pascal_voc')
print(''.join(f'{i} {n} {c[0]},{c[1]},{c[2]}\n' for i, (n, c) in enumerate(zip(voc.class_names, voc.colormap))), end='')
" > "$work/pseudo/labels.txt"
[ -f "$work/records/dataset.json" ] || deeplab-convert --dataset=folder --data_dir="$work/pseudo" \
  --label_map="$work/pseudo/labels.txt" --output_dir="$work/records" --splits=train,val

folder=(--config=data.dataset=folder --config=data.ignore_label=255 --config=data.eval_size=none)
deeplab-train --experiment=$experiment --qat_from="$work/float" --model_dir="$work/qat" --data_dir="$work/records" \
  "${folder[@]}" --batch_size=8 --train_steps="$qat_steps" --learning_rate=1e-4

export_one() {  # NAME MODEL_DIR QUANTIZATION OUTPUT
  [ -f "$work/export/$1.tflite" ] || deeplab-export --model_dir="$2" --output_dir="$work/export" --name="$1" \
    --quantization="$3" --output="$4" --data_dir="$work/records"
}
export_one float_scores "$work/float" none scores
export_one int8_ptq_scores "$work/float" int8_ptq scores
export_one int8_ptq_mask "$work/float" int8_ptq mask
export_one int8_qat_scores "$work/qat" int8_qat scores
export_one int8_qat_mask "$work/qat" int8_qat mask

[ "${COMPARE:-1}" = 0 ] || python "$(dirname "$0")/compare_with_reference.py" --reference="$reference" --frames="$camvid/val" --num_frames=50 \
  --out="$work/compare.json" --model=float="$work/export/float_scores.tflite" \
  --model=int8_ptq="$work/export/int8_ptq_scores.tflite" --model=int8_ptq_mask="$work/export/int8_ptq_mask.tflite" \
  --model=int8_qat="$work/export/int8_qat_scores.tflite" --model=int8_qat_mask="$work/export/int8_qat_mask.tflite"

# The apps' default model: the int8 PTQ mask file, the export closest to the original (compare.json).
if [ "$apps" = "--apps" ]; then
  root="$(dirname "$0")/.."
  stem=deeplabv3_pascal_257_int8_mask
  deeplab-export --model_dir="$work/float" --output_dir="$work/export" --name=$stem --quantization=int8_ptq \
    --output=mask --data_dir="$work/records" --android_assets="$root/mobile/android/app/src/main/assets"
  mkdir -p "$root/mobile/ios/DeepLabSegment/Models"
  cp "$work/export/$stem.tflite" "$work/export/${stem}_labels.txt" "$work/export/$stem.json" "$root/mobile/ios/DeepLabSegment/Models/"
fi
