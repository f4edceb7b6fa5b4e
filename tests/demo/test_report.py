"""The demo's report.html: self-contained, complete, faithful to its numbers, escaped, written atomically."""

import base64
import copy
import html.parser
import os
import re

import cv2
import numpy as np
import pytest

from deeplab_tf.demo.report import render_report, write_report

SECTIONS = ["header", "headline", "learning-curve", "per-class-iou", "exports", "ops", "overlays", "next-steps"]
CLASSES = ["sky", "<em>road</em>", "rare"]


def _metrics(miou, ious):
    return {
        "miou": miou,
        "per_class_iou": dict(zip(CLASSES, ious, strict=True)),
        "pixel_accuracy": 0.9,
        "mean_accuracy": 0.8,
        "frequency_weighted_iou": 0.85,
        "present_classes": [c for c, iou in zip(CLASSES, ious, strict=True) if iou is not None],
        "num_pixels": 1000,
    }


def _benchmark(size, median_xnn, median_plain, not_delegated):
    ops = {"CONV_2D": 30, "DEPTHWISE_CONV_2D": 17, "RESIZE_BILINEAR": 2, "ARG_MAX": 1}
    runs = [
        {"threads": t, "xnnpack": x, "median_ms": m * (1.5 if t == 1 else 1), "p90_ms": m * 1.2, "peak_rss_mb": 80.0,
         "rss_increase_mb": 20.0}
        for t in (1, 2) for x, m in ((True, median_xnn), (False, median_plain))
    ]  # fmt: skip
    delegated = sum(ops.values()) - sum(not_delegated.values())
    return {
        "size_bytes": size,
        "op_histogram": ops,
        "delegation": {"ops": sum(ops.values()), "delegated_ops": delegated, "fraction": delegated / sum(ops.values()),
                       "partitions": 1 + len(not_delegated), "not_delegated": not_delegated},  # fmt: skip
        "runs": runs,
    }


def _sample(name, height, width, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    truth = np.zeros((height, width), np.uint8)
    truth[height // 2 :] = 1
    truth[:4] = 255  # ignore band
    return {"name": name, "image": image, "ground_truth": truth,
            "predictions": {"float32": truth % 2, "int8 QAT": np.ones((height, width), np.uint8)}}  # fmt: skip


def make_summary():
    return {
        "title": "DeepLab demo & friends",
        "experiment": 'deeplabv3plus_mnv2_synthetic "small"',
        "dataset": "synthetic",
        "input_size": [65, 65],
        "created": "2026-11-21 19:40 UTC",
        "machine": "2-core CPU (shared)",
        "workdir": "/tmp/demo",
        "stages": [{"name": "data", "seconds": 3.25, "status": "resumed"},
                   {"name": "train", "seconds": 120.5, "status": "ran"}],  # fmt: skip
        "class_names": list(CLASSES),
        "colors": [[70, 130, 180], [128, 64, 128], [220, 20, 60]],
        "curve": {"train": [[10, 2.0], [20, 1.5], [30, 1.1]], "val": [[15, 0.2], [30, 0.5]],
                  "qat": [[40, 0.9], [50, 0.8]]},  # fmt: skip
        "float_eval": _metrics(0.5729, [0.9, 0.2458, None]),
        "exports": [
            {"label": "float32", "quantization": "none", "file": "/tmp/demo/export/model_float.tflite",
             "metrics": _metrics(0.5701, [0.9, 0.2402, None]), "benchmark": _benchmark(4_000_000, 40.0, 90.0, {})},
            {"label": "int8 QAT", "quantization": "int8_qat", "file": "/tmp/demo/export/model_int8.tflite",
             "metrics": _metrics(0.5659, [0.88, 0.2518, 0.1]),
             "benchmark": _benchmark(1_000_000, 16.0, 70.0, {"ARG_MAX": 1})},
        ],  # fmt: skip
        "overlays": [_sample("frame<1>", 48, 64, 0), _sample("big", 300, 400, 1)],
        "next_steps": [{"text": "Put the int8 model into the Android app:",
                        "command": "cp model_int8.tflite mobile/android/app/src/main/assets/ && echo '<done>'"}],
        "files": [{"label": "report", "path": "/tmp/demo/report.html"}],
    }  # fmt: skip


class _Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.ids, self.images = [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "section":
            self.ids.append(attrs.get("id"))
        if tag == "img":
            self.images.append(attrs["src"])


def _parse(text):
    parser = _Parser()
    parser.feed(text)
    parser.close()
    return parser


def _section(text, name):
    return re.search(rf'<section id="{name}">(.*?)</section>', text, re.S).group(1)


def test_self_contained_html_with_every_section_in_order():
    text = render_report(make_summary())
    parsed = _parse(text)
    assert parsed.ids == SECTIONS
    assert not any(tag in ("script", "link", "iframe", "object") for tag, _ in parsed.tags)
    for _, attrs in parsed.tags:
        for key in ("src", "href"):
            assert not attrs.get(key, "").startswith(("http", "//")), attrs
    assert "http" not in text and "url(" not in text
    for label in ("float32", "int8 QAT", "Keras float"):
        assert label in text
    for name in ("sky", "rare", "&lt;em&gt;road&lt;/em&gt;"):
        assert name in _section(text, "per-class-iou")


def test_numbers_shown_match_the_summary():
    text = render_report(make_summary())
    headline = _section(text, "headline")
    assert "57.29%" in headline  # Keras float
    assert "57.01%" in headline and "56.59%" in headline
    assert "2.50x" in headline  # 40 ms / 16 ms at 2 threads (the largest count every export measured)
    assert "4.00x" in headline  # 4.0 MB / 1.0 MB
    assert "-0.42 pts" in headline
    assert "4.00 MB" in headline and "1.00 MB" in headline
    exports = _section(text, "exports")
    assert "16.0 · 19.2" in exports and "70.0 · 84.0" in exports
    assert "98.0% (49/50)" in exports and "model_int8.tflite" in exports
    header = _section(text, "header")
    assert "123.8" in header and "resumed" in header and "65 × 65" in header


def test_headline_says_float_vs_int8_in_words():
    headline = _section(render_report(make_summary()), "headline")
    sentence = "int8 QAT is 2.50x faster and 4.00x smaller than float32, at 0.42 points lower mIoU (56.59% against 57.01%)."
    assert f'<p class="verdict">{sentence}</p>' in headline


def test_headline_follows_the_chosen_models():
    summary = make_summary()
    summary["baseline"], summary["headline"] = "int8 QAT", "float32"
    headline = _section(render_report(summary), "headline")
    assert "0.40x" in headline and "0.25x" in headline and "+0.42 pts" in headline
    assert "float32 is 2.50x slower and 4.00x larger than int8 QAT, at 0.42 points higher mIoU" in headline
    summary["headline"] = "fp16"
    with pytest.raises(ValueError, match="headline"):
        render_report(summary)


def test_absent_classes_are_written_absent_not_zero():
    chart = _section(render_report(make_summary()), "per-class-iou")
    # "rare" is absent for Keras float and float32, measured (10%) for int8 QAT
    assert chart.count(">absent</text>") == 2
    assert "rare · int8 QAT: 10.00%" in chart
    assert "rare · float32" not in chart


def test_learning_curve_draws_float_and_qat_losses_and_miou():
    summary = make_summary()
    curve = _section(render_report(summary), "learning-curve")
    assert curve.count("<polyline") == 3 and "QAT fine-tuning loss" in curve
    assert "step 30: mIoU 50.00%" in curve
    del summary["curve"]["qat"]
    assert _section(render_report(summary), "learning-curve").count("<polyline") == 2


def test_ops_not_delegated_are_marked():
    ops = _section(render_report(make_summary()), "ops")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"<tr><td><code>(\w+)</code></td>(.*?)</tr>", ops)}
    assert set(rows) == {"CONV_2D", "DEPTHWISE_CONV_2D", "RESIZE_BILINEAR", "ARG_MAX"}
    assert 'class="nd"' in rows["ARG_MAX"] and "1 (1 on CPU)" in rows["ARG_MAX"]
    assert 'class="nd"' not in rows["CONV_2D"] and ">30<" in rows["CONV_2D"]


def test_embedded_images_decode_to_small_pngs():
    parsed = _parse(render_report(make_summary()))
    assert len(parsed.images) == 2 * 4  # per sample: image, ground truth, two predictions
    shapes = []
    for src in parsed.images:
        assert src.startswith("data:image/png;base64,")
        data = np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8)
        shapes.append(cv2.imdecode(data, cv2.IMREAD_COLOR).shape)
    assert shapes == [(48, 64, 3)] * 4 + [(256, 341, 3)] * 4


def test_overlay_colours_and_legend():
    summary = make_summary()
    summary["overlays"] = summary["overlays"][:1]
    text = render_report(summary)
    src = _parse(text).images[3]  # int8 QAT predicts class 1 everywhere
    image = cv2.imdecode(np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    original = summary["overlays"][0]["image"].astype(np.float64)
    expected = original * 0.45 + np.array([128, 64, 128]) * 0.55
    assert np.abs(image[..., ::-1] - expected).max() <= 1
    legend = re.search(r'<div class="legend">(.*?)</div>', text).group(1)
    assert "sky" in legend and "&lt;em&gt;road" in legend and "ignored" in legend and "rare" not in legend


def test_text_is_escaped():
    text = render_report(make_summary())
    assert "<em>" not in text and "<1>" not in text and "'<done>'" not in text
    assert "&lt;em&gt;road&lt;/em&gt;" in text and "frame&lt;1&gt;" in text
    assert "DeepLab demo &amp; friends" in text and "&quot;small&quot;" in text
    assert not any(tag == "em" for tag, _ in _parse(text).tags)


def test_write_is_atomic_and_complete(tmp_path):
    folder = tmp_path / "out"
    path = str(folder / "report.html")
    summary = make_summary()
    assert write_report(path, summary) == path
    assert os.listdir(folder) == ["report.html"]
    with open(path, encoding="utf-8") as handle:
        written = handle.read()
    assert written == render_report(summary) and written.rstrip().endswith("</html>")
    del summary["files"]
    with pytest.raises(ValueError, match="files"):
        write_report(path, summary)
    assert os.listdir(folder) == ["report.html"]
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == written


@pytest.mark.parametrize(
    "edit, name",
    [
        (lambda s: s.pop("curve"), "curve"),
        (lambda s: s.pop("overlays"), "overlays"),
        (lambda s: s["exports"][1].pop("benchmark"), "benchmark"),
        (lambda s: s["stages"][0].pop("status"), "status"),
        (lambda s: s["curve"].pop("val"), "val"),
        (lambda s: s["colors"].pop(), "colors"),
        (lambda s: s["exports"][0]["metrics"]["per_class_iou"].pop("rare"), "rare"),
        (lambda s: s["overlays"][0]["predictions"].pop("int8 QAT"), "int8 QAT"),
    ],
)
def test_bad_summary_raises_naming_the_key(edit, name):
    summary = copy.deepcopy(make_summary())
    edit(summary)
    with pytest.raises(ValueError, match=re.escape(name)):
        render_report(summary)
