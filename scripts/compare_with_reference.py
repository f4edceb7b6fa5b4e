"""Equal weights, equal architecture: our exports of the imported demo model against the reference.

    python scripts/compare_with_reference.py --reference=../shared/reference/deeplabv3_257_mv_gpu.tflite \
        --frames=../shared/datasets/camvid/val --num_frames=50 --out=runs/ref257/compare.json \
        --model=float=runs/ref257/export/float_scores.tflite --model=int8_ptq=... [--rounds=100]

For each exported file (float or int8, scores or mask, uint8 input) and the reference (float32
input in [-1, 1]), on the same frames stretched to 257x257 as the official demo apps feed them:
the share of pixels whose class agrees with the reference's argmax (per frame: mean and worst),
the size, and the latency side by side with the reference in one process (XNNPACK, each
--threads value), as the ratio to the reference's (< 1 is faster). Writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import cv2
import numpy as np

import deeplab_tf  # noqa: F401  (Keras 2 before TensorFlow)
from deeplab_tf.artifacts.files import write_bytes_atomic
from deeplab_tf.export.benchmark import side_by_side
from deeplab_tf.export.inspect import run_tflite


def frames(folder: str, count: int, size: tuple[int, int]) -> np.ndarray:
    """The first ``count`` images of ``folder`` (by name), RGB uint8, stretched to ``size``."""
    paths = sorted(p for p in pathlib.Path(folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if len(paths) < count:
        raise SystemExit(f"{folder} has {len(paths)} images, fewer than --num_frames={count}")
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths[:count]]
    return np.stack([cv2.resize(i, size[::-1], interpolation=cv2.INTER_LINEAR) for i in images])


def classes(tflite_bytes: bytes, pixels: np.ndarray) -> np.ndarray:
    """[H, W] class ids of one frame: the model's mask, or the argmax of its scores. The input is
    uint8 pixels, or float32 in [-1, 1] (the reference's contract)."""
    from ai_edge_litert.interpreter import Interpreter

    (detail,) = Interpreter(model_content=tflite_bytes).get_input_details()
    x = pixels if detail["dtype"] == np.uint8 else pixels.astype(np.float32) / 127.5 - 1.0
    out = run_tflite(tflite_bytes, x)[0]
    return out if out.ndim == 2 else out.argmax(-1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", required=True)
    parser.add_argument("--frames", required=True, help="a folder of real images")
    parser.add_argument("--num_frames", type=int, default=50)
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH of an export (repeatable)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--out", required=True, help="the JSON report to write")
    args = parser.parse_args(argv)
    models = dict(item.split("=", 1) for item in args.model)
    reference = pathlib.Path(args.reference).read_bytes()
    images = frames(args.frames, args.num_frames, (257, 257))
    truth = [classes(reference, image) for image in images]
    report = {"reference": os.path.abspath(args.reference), "frames": args.num_frames, "models": {}}
    for name, path in models.items():
        data = pathlib.Path(path).read_bytes()
        agreement = [float((classes(data, image) == t).mean()) for image, t in zip(images, truth, strict=True)]
        report["models"][name] = {"path": os.path.abspath(path), "size_bytes": len(data),
                                  "agreement_mean": float(np.mean(agreement)), "agreement_worst": min(agreement)}  # fmt: skip
    report["reference_size_bytes"] = len(reference)
    for threads in (int(t) for t in args.threads.split(",")):
        timed = side_by_side([args.reference, *models.values()], threads=threads, rounds=args.rounds)
        report[f"latency_{threads}_threads"] = {"reference_ms": timed[0]["median_ms"]}
        for name, result in zip(models, timed[1:], strict=True):
            report["models"][name][f"ms_{threads}_threads"] = result["median_ms"]
            report["models"][name][f"vs_reference_{threads}_threads"] = 1.0 / result["ratio_to_first"]
    write_bytes_atomic(args.out, (json.dumps(report, indent=2) + "\n").encode())
    for name, row in report["models"].items():
        latency = ", ".join(f"{k[3:]} {v:.2f} ms" for k, v in row.items() if k.startswith("ms_"))
        ratios = ", ".join(f"{v:.2f}x" for k, v in row.items() if k.startswith("vs_reference"))
        print(f"{name:12s} agreement {row['agreement_mean']:.4%} (worst {row['agreement_worst']:.4%}), "
              f"{row['size_bytes']:,} B, {latency} ({ratios} the reference)")  # fmt: skip
    print(f"reference    {len(reference):,} B; report {args.out}")


if __name__ == "__main__":
    sys.exit(main())
