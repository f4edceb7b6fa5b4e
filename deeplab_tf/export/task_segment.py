"""Runs a .tflite through an app runtime's ImageSegmenter; runs inside that runtime's virtualenv.

    python -I task_segment.py --runtime=tflite_support|mediapipe --model=M.tflite --images=IN.npy --output=OUT.npz

IN.npy: uint8 RGB images [N, H, W, 3]. OUT.npz: "masks" uint8 [N, H, W] (the
category masks), "labels" (the class names the runtime read from the model's
metadata) and, for tflite_support, "metadata_json": the metadata as its own
parser (MetadataDisplayer) reads it. Imports only numpy and the runtime (neither TensorFlow nor
deeplab_tf installs beside them), so it is run by path, not as a module, and
isolated (-I) so that its folder's inspect.py does not shadow the standard
library's: ``deeplab_tf.export.task_venvs.segment`` does that.
"""

import argparse

import numpy as np


def tflite_support_segment(model: str, images: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    """The TFLite Task Library's C++ ImageSegmenter (what the Android task-vision library runs)."""
    from tflite_support.task import core, processor, vision

    options = vision.ImageSegmenterOptions(
        base_options=core.BaseOptions(file_name=model),
        segmentation_options=processor.SegmentationOptions(output_type=processor.OutputType.CATEGORY_MASK),
    )
    segmenter = vision.ImageSegmenter.create_from_options(options)
    masks, labels = [], []
    for image in images:
        segmentation = segmenter.segment(vision.TensorImage.create_from_array(np.ascontiguousarray(image)))
        segmentation = segmentation.segmentations[0]
        masks.append(np.asarray(segmentation.category_mask, np.uint8))
        labels = [label.category_name for label in segmentation.colored_labels]
    return masks, labels


def tflite_support_metadata_json(model: str) -> str:
    from tflite_support import metadata

    return metadata.MetadataDisplayer.with_model_file(model).get_metadata_json()


def mediapipe_segment(model: str, images: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    """MediaPipe Tasks' ImageSegmenter."""
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_path=model), output_category_mask=True, output_confidence_masks=False
    )
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        masks = []
        for image in images:
            result = segmenter.segment(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
            masks.append(np.array(result.category_mask.numpy_view(), np.uint8).reshape(image.shape[:2]))
        return masks, list(segmenter.labels)


RUNTIMES = {"tflite_support": tflite_support_segment, "mediapipe": mediapipe_segment}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--images", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    images = np.load(args.images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        parser.error(f"--images must hold uint8 RGB images [N, H, W, 3], got {images.dtype} {images.shape}")
    masks, labels = RUNTIMES[args.runtime](args.model, images)
    extra = {"metadata_json": tflite_support_metadata_json(args.model)} if args.runtime == "tflite_support" else {}
    np.savez(args.output, masks=np.stack(masks), labels=np.array(labels, dtype=str), **extra)


if __name__ == "__main__":
    main()
