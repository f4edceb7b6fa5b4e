"""The embedded synthetic dataset: deterministic, well-formed, and not solvable by colour alone."""

import time

import numpy as np
import pytest

from deeplab_tf.data import synthetic

NUM_CLASSES = len(synthetic.CLASS_NAMES)
VALID = set(range(NUM_CLASSES)) | {synthetic.IGNORE_LABEL}


@pytest.fixture(scope="module")
def batch():
    """200 images of 128x128 from seed 0: (images float64 [N, H, W, 3], masks uint8 [N, H, W])."""
    start = time.perf_counter()
    pairs = [synthetic.generate(0, i) for i in range(200)]
    elapsed = time.perf_counter() - start
    print(f"\nsynthetic.generate: {elapsed / len(pairs) * 1e3:.2f} ms per 128x128 image")
    images = np.stack([p[0] for p in pairs]).astype(np.float64)
    masks = np.stack([p[1] for p in pairs])
    return images, masks


def test_constants():
    assert len(synthetic.CLASS_NAMES) == 6
    assert synthetic.CLASS_NAMES[0] == "background"
    assert len(set(synthetic.CLASS_NAMES)) == 6
    assert len(synthetic.COLORMAP) == 6
    assert synthetic.COLORMAP[0] == (0, 0, 0)
    assert len(set(synthetic.COLORMAP)) == 6
    for colour in synthetic.COLORMAP:
        assert len(colour) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in colour)
    assert synthetic.IGNORE_LABEL == 255


def test_deterministic():
    image, mask = synthetic.generate(3, 5)
    np.random.seed(1234)  # global state must not matter
    np.random.rand(10)
    synthetic.generate(3, 6)  # nor what was generated in between
    again_image, again_mask = synthetic.generate(3, 5)
    np.testing.assert_array_equal(image, again_image)
    np.testing.assert_array_equal(mask, again_mask)
    other_index = synthetic.generate(3, 6)[0]
    other_seed = synthetic.generate(4, 5)[0]
    assert not np.array_equal(image, other_index)
    assert not np.array_equal(image, other_seed)


@pytest.mark.parametrize("size", [(128, 128), (65, 97), (32, 32), (40, 200)])
def test_shapes_and_values(size):
    for index in range(8):
        image, mask = synthetic.generate(11, index, size)
        assert image.shape == (*size, 3) and image.dtype == np.uint8
        assert mask.shape == size and mask.dtype == np.uint8
        assert set(np.unique(mask).tolist()) <= VALID
    assert np.array_equal(synthetic.generate(11, 0, size)[1], synthetic.generate(11, 0, size)[1])


def test_every_class_appears(batch):
    _, masks = batch
    counts = np.bincount(masks.ravel(), minlength=256)
    for k, name in enumerate(synthetic.CLASS_NAMES):
        assert counts[k] > 0.005 * masks.size, f"class {name} nearly absent: {counts[k]} pixels"
    images_with = [(masks == k).any(axis=(1, 2)).sum() for k in range(1, NUM_CLASSES)]
    assert min(images_with) >= 40, images_with
    objects_per_image = [len(set(np.unique(m).tolist()) - {0, synthetic.IGNORE_LABEL}) for m in masks]
    assert np.mean(objects_per_image) >= 2.0


def test_each_class_has_its_own_colours_with_variation(batch):
    images, masks = batch
    objects = (masks > 0) & (masks < NUM_CLASSES)
    pixels, labels = images[objects], masks[objects]
    means = np.stack([pixels[labels == k].mean(0) for k in range(1, NUM_CLASSES)])
    # warm (disc, ring), cool (square, triangle) and green (cross) classes, as their looks say
    assert means[0, 0] > means[0, 2] and means[2, 2] > means[2, 0] and means[4, 1] > means[4, 0], means
    for k in range(1, NUM_CLASSES):  # each class comes in many shades: its colour varies from image to image
        per_image = np.stack([im[m == k].mean(0) for im, m in zip(images, masks, strict=True) if (m == k).sum() >= 20])
        assert per_image.std(0).max() > 25.0, (synthetic.CLASS_NAMES[k], per_image.std(0))


def test_a_per_pixel_colour_lookup_is_a_weak_baseline(batch):
    images, masks = batch
    val = [synthetic.generate(1, i) for i in range(60)]
    val_images, val_masks = np.stack([v[0] for v in val]), np.stack([v[1] for v in val])
    miou, iou = synthetic.colour_lookup_miou((images.astype(np.uint8), masks), (val_images, val_masks))
    print(f"\ncolour lookup: val mIoU {miou:.3f}, per class {np.round(iou, 3)}")
    assert miou < 0.5  # the demo's model: 77.1% (README)
    # the classes that share a colour range are not told apart by it
    assert max(iou[1], iou[2]) < 0.45 and max(iou[3], iou[4]) < 0.45, iou


def test_background_is_textured(batch):
    images, masks = batch
    stds = np.array([im[m == 0].std(0).mean() for im, m in zip(images, masks, strict=True)])
    print(f"\nbackground std per image: min {stds.min():.1f}, median {np.median(stds):.1f}")
    assert stds.min() > 3.0
    assert np.median(stds) > 12.0
    # Background colour differs across images too.
    bg_means = np.stack([im[m == 0].mean(0) for im, m in zip(images, masks, strict=True)])
    assert bg_means.std(0).min() > 25.0


def test_ignore_band(batch):
    _, masks = batch
    ignored = masks == synthetic.IGNORE_LABEL
    with_band = ignored.any(axis=(1, 2))
    fraction = ignored.mean()
    print(f"\nimages with an ignore band: {with_band.sum()}/{len(masks)}, ignored pixels {fraction:.2%}")
    assert 0.1 * len(masks) <= with_band.sum() <= 0.6 * len(masks)
    assert fraction < 0.05
    assert ignored.mean(axis=(1, 2)).max() < 0.2
    # The band is thin and lies along object boundaries: ignored pixels lie within 2 pixels of a labelled
    # pixel and within 3 of an object pixel (but where the band swallows a sliver of an object or a corner).
    near_object, near_label, total = 0, 0, 0
    for mask, band in zip(masks[with_band], ignored[with_band], strict=True):
        total += band.sum()
        near_object += band[_within((mask > 0) & (mask < NUM_CLASSES), 3)].sum()
        near_label += band[_within(mask < NUM_CLASSES, 2)].sum()
    print(f"ignored pixels near a labelled pixel {near_label / total:.4f}, near an object {near_object / total:.4f}")
    assert near_label >= 0.99 * total
    assert near_object >= 0.99 * total


def _within(region: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within `radius` (Chebyshev distance) of `region`."""
    h, w = region.shape
    padded = np.pad(region, radius)
    out = np.zeros_like(region)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy : dy + h, dx : dx + w]
    return out
