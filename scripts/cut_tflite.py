"""Where a .tflite spends its time: copies cut after an operator, timed side by side.

    python scripts/cut_tflite.py --model=runs/ref257/export/deeplabv3_pascal_257_int8_mask.tflite \
        --after=69 --after=-1 --out_dir=runs/cuts --threads=1 --rounds=200 \
        --also=../shared/reference/deeplabv3_257_mv_gpu.tflite

Each copy keeps the operators up to and including the one at index --after (negative counts from
the end: -1 is the whole graph, -2 drops the last op) and outputs that operator's first output;
signatures and metadata are dropped (the cut graph no longer matches them). Every copy and each
--also file are then timed in one process, XNNPACK on, invoked in turn (deeplab_tf.export.benchmark
.side_by_side), so the difference between two cuts is what the operators between them cost.
Operator indices and names: `deeplab-info --model=FILE` or this script's --list.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from ai_edge_litert import schema_py_generated as schema

import deeplab_tf  # noqa: F401  (Keras 2 before TensorFlow)
from deeplab_tf.artifacts.files import write_bytes_atomic
from deeplab_tf.export.benchmark import format_side_by_side, side_by_side
from deeplab_tf.export.flatbuffer import operator_name, pack_model


def _read(path: str) -> schema.ModelT:
    with open(path, "rb") as handle:
        return schema.ModelT.InitFromPackedBuf(handle.read(), 0)


def operator_names(model: schema.ModelT) -> list[str]:
    """The builtin name of each operator of the main subgraph, in execution order."""
    return [operator_name(model, op) for op in model.subgraphs[0].operators]


def cut_after(model_bytes: bytes, index: int) -> bytes:
    """The model's main subgraph kept up to operator ``index`` (negative: from the end), its output.

    Raises:
      ValueError: the model has more than one subgraph, or ``index`` is out of range.
    """
    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    if len(model.subgraphs) != 1:
        raise ValueError(f"cut_after needs a model with one subgraph, this one has {len(model.subgraphs)}")
    operators = model.subgraphs[0].operators
    if not -len(operators) <= index < len(operators):
        raise ValueError(f"--after={index} is out of range: the model has {len(operators)} operators")
    kept = operators[: index % len(operators) + 1]
    model.subgraphs[0].operators = kept
    model.subgraphs[0].outputs = np.array([kept[-1].outputs[0]], dtype=np.int32)
    model.signatureDefs = []
    model.metadata = []
    return pack_model(model, len(model_bytes))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="the .tflite to cut")
    parser.add_argument("--after", type=int, action="append", default=[], help="operator index (repeatable)")
    parser.add_argument("--out_dir", help="where the cut copies go (required with --after)")
    parser.add_argument("--also", action="append", default=[], help="another .tflite timed with them")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--list", action="store_true", help="print the operators and exit")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.model):
        parser.error(f"--model={args.model} does not exist")
    with open(args.model, "rb") as handle:
        model_bytes = handle.read()
    if args.list:
        for index, name in enumerate(operator_names(schema.ModelT.InitFromPackedBuf(model_bytes, 0))):
            print(index, name)
        return 0
    if not args.after or not args.out_dir:
        parser.error("give --after (one or more) and --out_dir, or --list")
    stem = os.path.splitext(os.path.basename(args.model))[0]
    os.makedirs(args.out_dir, exist_ok=True)
    paths = []
    for index in args.after:
        try:
            cut = cut_after(model_bytes, index)
        except ValueError as error:
            parser.error(str(error))
        path = os.path.join(args.out_dir, f"{stem}_after_{index}.tflite")
        write_bytes_atomic(path, cut)
        paths.append(path)
    print(format_side_by_side(side_by_side(args.also + paths, threads=args.threads, rounds=args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
