"""deeplab-convert: a dataset -> sharded TFRecords for training and evaluation.

    deeplab-convert --dataset=camvid --data_dir=../shared/datasets/camvid --output_dir=/tmp/camvid_records
    deeplab-convert --dataset=folder --data_dir=DIR --label_map=DIR/labels.txt --output_dir=OUT
    deeplab-convert --dataset=synthetic --output_dir=OUT [--num_images=N] [--image_size=H,W]

Writes OUTPUT_DIR/{split}-0000i-of-0000n.tfrecord and OUTPUT_DIR/dataset.json
(classes + summary), and prints the summary. Layouts: datasets/NAME/README.md.
"""

from __future__ import annotations

import os
import time

from absl import flags

from deeplab_tf.cli.common import parse_size, run_main
from deeplab_tf.data.converters import CONVERTERS, convert

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", None, f"Dataset; one of: {', '.join(sorted(CONVERTERS))}.")
flags.DEFINE_string("data_dir", None, "The dataset's folder (not needed for synthetic).")
flags.DEFINE_string("output_dir", None, "Where the TFRecords and dataset.json go (created if needed).")
flags.DEFINE_list("splits", ["train", "val"], "Splits to convert, comma-separated.")
flags.DEFINE_integer("num_shards", None, "Shards per split (default: the converter's, e.g. 4; Cityscapes 10).")
flags.DEFINE_bool("skip_bad", False, "Skip bad samples and list them in the summary instead of failing.")
flags.DEFINE_string("label_map", None, "folder dataset: label-map file, lines 'index name [r,g,b]'.")
flags.DEFINE_integer(
    "num_images", None, "synthetic: images per split (default train 400, val 100); others: only the first N."
)
flags.DEFINE_string("image_size", None, "synthetic: H,W of the images (default 128,128).")
flags.DEFINE_integer("workers", 0, "Encoding processes; 0 = all cores.")
flags.mark_flags_as_required(["dataset", "output_dir"])


def main(argv):
    del argv
    start = time.monotonic()
    convert(
        FLAGS.dataset,
        FLAGS.data_dir,
        FLAGS.output_dir,
        FLAGS.splits,
        FLAGS.num_images,
        parse_size(FLAGS.image_size, "image_size") if FLAGS.image_size else None,
        label_map=FLAGS.label_map,
        num_shards=FLAGS.num_shards or None,
        skip_bad=FLAGS.skip_bad,
        workers=FLAGS.workers or None,
    )
    print(f"wrote {os.path.join(FLAGS.output_dir, 'dataset.json')} in {time.monotonic() - start:.1f}s")


def run():
    run_main(main)


if __name__ == "__main__":
    run()
