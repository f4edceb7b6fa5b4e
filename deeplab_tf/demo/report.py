"""The demo's ``report.html``: one self-contained page, readable offline.

Pictures are embedded as base64 PNG data URIs, charts are inline SVG drawn
here, styling is one small inline ``<style>``: no script, no external URL.
Every string taken from the summary is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Sequence

import cv2
import numpy as np

from deeplab_tf.artifacts.files import write_bytes_atomic
from deeplab_tf.evaluation.report import blend

REQUIRED = (
    "title", "experiment", "dataset", "input_size", "created", "machine", "workdir", "stages",
    "class_names", "colors", "curve", "float_eval", "exports", "overlays", "next_steps", "files",
)  # fmt: skip
EXPORT_KEYS = ("label", "quantization", "file", "metrics", "benchmark")
OVERLAY_KEYS = ("name", "image", "ground_truth", "predictions")
FLOAT_LABEL = "Keras float"
MODEL_COLORS = ("#4c72b0", "#dd8452", "#55a868", "#8172b3", "#c44e52", "#937860", "#da8bc3", "#8c8c8c")
IGNORE_COLOR = (48, 48, 48)
THUMB_HEIGHT = 256

STYLE = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa; --card: #fff; --accent: #4c72b0; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 20px 60px; }
h1 { font-size: 28px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 0 0 14px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 20px 24px; margin: 18px 0; box-shadow: 0 1px 3px rgba(31, 41, 51, .06); }
.sub { color: var(--muted); margin: 0 0 16px; }
.verdict { font-size: 1.15em; margin: 0 0 8px; }
nav a { color: var(--accent); text-decoration: none; margin-right: 14px; font-size: 14px; }
.meta { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 10px 20px; margin-bottom: 16px; }
.meta div { border-left: 3px solid var(--accent); padding-left: 10px; overflow-wrap: anywhere; }
.meta div.wide { grid-column: 1 / -1; }
.meta b, .card .k { display: block; color: var(--muted); font-size: 12px; font-weight: 600; letter-spacing: .03em; }
.meta b { text-transform: uppercase; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(250px, 1fr)); gap: 14px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.card .v { display: flex; justify-content: space-between; margin: 6px 0; }
.card .v span:last-child { font-weight: 600; font-variant-numeric: tabular-nums; }
.card .r { font-size: 24px; font-weight: 700; color: var(--accent); margin-top: 6px; }
.card .k { font-size: 13px; }
.card .r small { font-size: 13px; font-weight: 400; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 6px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f0f3f7; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } td.n { white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
.scroll { overflow-x: auto; }
.nd { background: #fde8e8; color: #9b1c1c; font-weight: 600; }
.tag { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; }
.ran { background: #e3f9e5; color: #1f7a3a; } .resumed { background: #e6f0ff; color: #2a5db0; }
.absent { color: var(--muted); font-style: italic; }
.sw { display: inline-block; width: 12px; height: 12px; border-radius: 2px; border: 1px solid rgba(0, 0, 0, .35);
  vertical-align: -1px; margin-right: 6px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 18px; margin-top: 12px; font-size: 14px; }
.overlays table { table-layout: fixed; } .overlays th { text-align: center; }
.overlays td { padding: 4px; border: 0; } .overlays tbody tr { background: none !important; } .overlays td.name { padding: 12px 4px 2px; font-weight: 600; }
.overlays img { display: block; width: 100%; height: auto; border-radius: 4px; }
td code { font-size: 12px; overflow-wrap: anywhere; }
pre { background: #1f2933; color: #e4e7eb; padding: 12px 14px; border-radius: 6px; font-size: 13px;
  white-space: pre-wrap; overflow-wrap: anywhere; }
code { font-size: 13px; } svg { width: 100%; height: auto; display: block; }
"""


# --- checks and formatting -------------------------------------------------------


def _require(mapping, keys: Sequence[str], where: str) -> None:
    if not isinstance(mapping, dict):
        raise ValueError(f"{where} must be a dict, got {type(mapping).__name__}")
    for key in keys:
        if key not in mapping:
            raise ValueError(f"{where} is missing the key {key!r}")


def _check(summary: dict) -> None:
    """Raises ValueError naming the first missing or inconsistent key."""
    _require(summary, REQUIRED, "summary")
    if len(summary["class_names"]) != len(summary["colors"]):
        raise ValueError(
            f"summary['class_names'] has {len(summary['class_names'])} names but "
            f"summary['colors'] has {len(summary['colors'])} colours"
        )
    if len(summary["input_size"]) != 2:
        raise ValueError(f"summary['input_size'] must be [height, width], got {summary['input_size']!r}")
    for i, stage in enumerate(summary["stages"]):
        _require(stage, ("name", "seconds", "status"), f"summary['stages'][{i}]")
    _require(summary["curve"], ("train", "val"), "summary['curve']")
    _require(summary["float_eval"], ("miou", "per_class_iou"), "summary['float_eval']")
    if not summary["exports"]:
        raise ValueError("summary['exports'] is empty: the report compares at least one exported model")
    for i, export in enumerate(summary["exports"]):
        _require(export, EXPORT_KEYS, f"summary['exports'][{i}]")
        _require(export["metrics"], ("miou", "per_class_iou"), f"summary['exports'][{i}]['metrics']")
        _require(export["benchmark"], ("size_bytes", "op_histogram", "delegation", "runs"),
                 f"summary['exports'][{i}]['benchmark']")  # fmt: skip
    for i, sample in enumerate(summary["overlays"]):
        _require(sample, OVERLAY_KEYS, f"summary['overlays'][{i}]")
    for i, step in enumerate(summary["next_steps"]):
        _require(step, ("text", "command"), f"summary['next_steps'][{i}]")
    for i, item in enumerate(summary["files"]):
        _require(item, ("label", "path"), f"summary['files'][{i}]")


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _pct(value) -> str:
    return "absent" if value is None else f"{value * 100:.2f}%"


def _ms(value) -> str:
    return "—" if value is None else f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def _hex(color) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(c) for c in color))


def _swatch(color) -> str:
    return f'<span class="sw" style="background:{_hex(color)}"></span>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """A table of already escaped cells; ``numeric[i]`` right-aligns column i."""

    def cell(tag, text, i):
        return f'<{tag} class="n">{text}</{tag}>' if numeric[i] else f"<{tag}>{text}</{tag}>"

    header = "".join(cell("th", text, i) for i, text in enumerate(head))
    body = "".join("<tr>" + "".join(cell("td", text, i) for i, text in enumerate(row)) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table></div>'


def _png_uri(rgb: np.ndarray) -> str:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode an overlay picture as PNG")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _run(benchmark: dict, threads: int | None, xnnpack: bool) -> dict | None:
    for run in benchmark["runs"]:
        if run["threads"] == threads and bool(run["xnnpack"]) == xnnpack:
            return run
    return None


def _threads(exports: Sequence[dict]) -> int | None:
    """The largest thread count that every export was timed at (with XNNPACK)."""
    common = None
    for export in exports:
        counts = {run["threads"] for run in export["benchmark"]["runs"] if run["xnnpack"]}
        common = counts if common is None else common & counts
    return max(common) if common else None


def _median(export: dict, threads: int | None, xnnpack: bool = True) -> float | None:
    run = _run(export["benchmark"], threads, xnnpack)
    return None if run is None else run["median_ms"]


def _by_label(exports: Sequence[dict], label: str | None, default: int, key: str) -> dict:
    if label is None:
        return exports[default]
    for export in exports:
        if export["label"] == label:
            return export
    raise ValueError(f"summary[{key!r}] = {label!r} is not an export label ({[e['label'] for e in exports]})")


# --- SVG charts -------------------------------------------------------------------


def _ticks(top: float, count: int = 5) -> list[float]:
    """Round tick values 0 .. >= top (steps of 1, 2 or 5 times a power of ten)."""
    top = top if top > 0 else 1.0
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(math.ceil(top / step - 1e-9)) + 1)]


def _num(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e5 else f"{value:.3g}"


def _text(x, y, text, anchor="start", size=12, fill="#616e7c", extra="") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" fill="{fill}" text-anchor="{anchor}"{extra}>'
        f"{_e(text)}</text>"
    )


def _polyline(points, color, dashed=False) -> str:
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dash = ' stroke-dasharray="5 4"' if dashed else ""
    return f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2" stroke-linejoin="round"{dash}/>'


def _legend_items(items, x, y) -> tuple[list[str], float]:
    """SVG legend entries (colour, label) in one row; returns the parts and the end x."""
    parts = []
    for color, label in items:
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="14" height="10" rx="2" fill="{color}"/>')
        parts.append(_text(x + 19, y, label, size=12, fill="#1f2933"))
        x += 34 + 7 * len(label)
    return parts, x


def learning_curve_svg(curve: dict, width: int = 860, height: int = 330) -> str:
    """Training loss (left axis) and validation mIoU in % (right axis) against step,
    with the QAT fine-tuning loss (if any) after the float steps, as inline SVG."""
    train = [(float(s), float(v)) for s, v in curve["train"]]
    val = [(float(s), float(v) * 100) for s, v in curve["val"]]
    qat = [(float(s), float(v)) for s, v in curve.get("qat") or []]
    if not (train or val or qat):
        return '<p class="absent">No training curve was recorded.</p>'
    left, right, top, bottom = 64, 64, 40, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    x_ticks = _ticks(max(s for s, _ in train + val + qat))
    loss_ticks = _ticks(max([v for _, v in train + qat] or [1.0]))
    miou_ticks = _ticks(max([v for _, v in val] or [100.0]))

    def sx(step):
        return left + plot_w * step / x_ticks[-1]

    def sy(value, ticks):
        return top + plot_h * (1 - value / ticks[-1])

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             'aria-label="learning curve">']  # fmt: skip
    for tick in loss_ticks:
        y = sy(tick, loss_ticks)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>')
        parts.append(_text(left - 8, y + 4, _num(tick), "end"))
    for tick in miou_ticks:
        parts.append(_text(left + plot_w + 8, sy(tick, miou_ticks) + 4, f"{_num(tick)}%"))
    for tick in x_ticks:
        x = sx(tick)
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 5}" stroke="#616e7c"/>')
        parts.append(_text(x, top + plot_h + 19, _num(tick), "middle"))
    parts.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#9aa5b1"/>')
    parts.append(_text(left + plot_w / 2, height - 6, "step", "middle", 13, "#1f2933"))
    mid = top + plot_h / 2
    parts.append(_text(16, mid, "loss", "middle", 13, "#1f2933", f' transform="rotate(-90 16 {mid:.1f})"'))
    x_right = width - 12
    parts.append(_text(x_right, mid, "val mIoU (%)", "middle", 13, "#1f2933",
                       f' transform="rotate(90 {x_right} {mid:.1f})"'))  # fmt: skip
    items = []
    if qat and train:
        x = sx(max(s for s, _ in train))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#9aa5b1" '
                     'stroke-dasharray="3 3"/>')  # fmt: skip
        parts.append(_text(x + 5, top + 14, "QAT fine-tuning →", size=11))
    if train:
        parts.append(_polyline([(sx(s), sy(v, loss_ticks)) for s, v in train], MODEL_COLORS[0]))
        items.append((MODEL_COLORS[0], "training loss"))
    if qat:
        parts.append(_polyline([(sx(s), sy(v, loss_ticks)) for s, v in qat], MODEL_COLORS[3]))
        items.append((MODEL_COLORS[3], "QAT fine-tuning loss"))
    if val:
        parts.append(_polyline([(sx(s), sy(v, miou_ticks)) for s, v in val], MODEL_COLORS[1]))
        for s, v in val:
            parts.append(f'<circle cx="{sx(s):.1f}" cy="{sy(v, miou_ticks):.1f}" r="3.5" fill="{MODEL_COLORS[1]}">'
                         f"<title>step {_num(s)}: mIoU {v:.2f}%</title></circle>")  # fmt: skip
        items.append((MODEL_COLORS[1], "validation mIoU"))
    legend, _ = _legend_items(items, left, 20)
    return "\n".join(parts + legend + ["</svg>"])


def iou_chart_svg(class_names, colors, models: Sequence[tuple[str, dict]], width: int = 860) -> str:
    """Grouped horizontal bars: one group per class, one bar per (label, per_class_iou)
    model; a class absent from the evaluation (IoU None) is written "absent"."""
    bar, gap, top = 11, 12, 52
    label_w = min(240, 44 + 7 * max(len(str(name)) for name in class_names))
    plot_w = width - label_w - 70
    group = bar * len(models) + gap
    height = top + group * len(class_names) + 24
    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
             'aria-label="per-class IoU">']  # fmt: skip
    bottom = height - 24
    for tick in (0, 25, 50, 75, 100):
        x = label_w + plot_w * tick / 100
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{bottom}" stroke="#e4e7eb"/>')
        parts.append(_text(x, top - 10, f"{tick}%", "middle", 11))
        parts.append(_text(x, bottom + 15, f"{tick}%", "middle", 11))
    for c, name in enumerate(class_names):
        y0 = top + c * group
        middle = y0 + bar * len(models) / 2
        parts.append(f'<rect x="{label_w - 22}" y="{middle - 6:.1f}" width="12" height="12" rx="2" '
                     f'fill="{_hex(colors[c])}" stroke="#52606d" stroke-width="0.8"/>')  # fmt: skip
        parts.append(_text(label_w - 28, middle + 4, name, "end", 13, "#1f2933"))
        for m, (label, per_class) in enumerate(models):
            y = y0 + m * bar
            value = per_class[name]
            tip = f"<title>{_e(name)} · {_e(label)}: {_e(_pct(value))}</title>"
            if value is None:
                parts.append(_text(label_w + 4, y + bar - 2, "absent", size=10, extra=' font-style="italic"'))
                continue
            length = plot_w * max(0.0, min(1.0, value))
            color = MODEL_COLORS[m % len(MODEL_COLORS)]
            parts.append(f'<rect x="{label_w}" y="{y + 1}" width="{length:.1f}" height="{bar - 2}" fill="{color}">'
                         f"{tip}</rect>")  # fmt: skip
            parts.append(_text(label_w + length + 4, y + bar - 2, f"{value * 100:.1f}", size=10))
    legend, _ = _legend_items(
        [(MODEL_COLORS[m % len(MODEL_COLORS)], label) for m, (label, _) in enumerate(models)], label_w, 16
    )
    return "\n".join(parts + legend + ["</svg>"])


# --- sections ----------------------------------------------------------------------


def _header(summary: dict) -> str:
    height, width = summary["input_size"]
    meta = [("experiment", summary["experiment"]), ("dataset", summary["dataset"]),
            ("input size", f"{height} × {width}"), ("created", summary["created"]),
            ("machine", summary["machine"]), ("work folder", summary["workdir"])]  # fmt: skip
    grid = "".join(f"<div><b>{_e(k)}</b>{_e(v)}</div>" for k, v in meta[:-1])
    grid += f'<div class="wide"><b>{_e(meta[-1][0])}</b>{_e(meta[-1][1])}</div>'
    rows = [[_e(s["name"]), f"{float(s['seconds']):.1f}", f'<span class="tag {_e(s["status"])}">{_e(s["status"])}</span>']
            for s in summary["stages"]]  # fmt: skip
    total = sum(float(s["seconds"]) for s in summary["stages"])
    rows.append(["<b>total</b>", f"<b>{total:.1f}</b>", ""])
    nav = "".join(f'<a href="#{anchor}">{name}</a>' for anchor, name in (
        ("headline", "Headline"), ("learning-curve", "Learning curve"), ("per-class-iou", "Per-class IoU"),
        ("exports", "Exports"), ("ops", "Ops"), ("overlays", "Overlays"), ("next-steps", "Next steps")))  # fmt: skip
    return (f'<section id="header"><h1>{_e(summary["title"])}</h1><nav>{nav}</nav><br>'
            f'<div class="meta">{grid}</div><h2>Stages</h2>'
            + _table(["stage", "seconds", "status"], rows, [False, True, False]) + "</section>")  # fmt: skip


def _headline(summary: dict, threads: int | None) -> str:
    exports = summary["exports"]
    base = _by_label(exports, summary.get("baseline"), 0, "baseline")
    head = _by_label(exports, summary.get("headline"), -1, "headline")
    b_label, h_label = _e(base["label"]), _e(head["label"])

    def card(title, b_value, h_value, ratio, note):
        return (f'<div class="card"><span class="k">{title}</span>'
                f'<div class="v"><span>{b_label}</span><span>{b_value}</span></div>'
                f'<div class="v"><span>{h_label}</span><span>{h_value}</span></div>'
                f'<div class="r">{ratio} <small>{note}</small></div></div>')  # fmt: skip

    b_miou, h_miou = base["metrics"]["miou"], head["metrics"]["miou"]
    diff = "—" if b_miou is None or h_miou is None else f"{(h_miou - b_miou) * 100:+.2f} pts"
    b_ms, h_ms = _median(base, threads), _median(head, threads)
    speedup = "—" if not b_ms or not h_ms else f"{b_ms / h_ms:.2f}x"
    b_size, h_size = base["benchmark"]["size_bytes"], head["benchmark"]["size_bytes"]
    size_ratio = f"{b_size / h_size:.2f}x" if h_size else "—"
    cards = [
        card("mIoU", _pct(b_miou), _pct(h_miou), diff, f"{h_label} vs {b_label}"),
        card(f"latency (XNNPACK, median, {threads} threads)", _ms(b_ms), _ms(h_ms), speedup, "speed-up"),
        card("size", f"{b_size / 1e6:.2f} MB", f"{h_size / 1e6:.2f} MB", size_ratio, "smaller"),
    ]
    verdict = f'<p class="verdict">{_e(plain_comparison(base, head, threads))}</p>'
    note = (f'<p class="sub">The Keras float model scores {_pct(summary["float_eval"]["miou"])} mIoU on the same '
            f"split; latency is measured on this machine (shared with other work).</p>")  # fmt: skip
    return f'<section id="headline"><h2>Headline</h2>{verdict}{note}<div class="cards">{"".join(cards)}</div></section>'


def plain_comparison(base: dict, head: dict, threads: int | None = None) -> str:
    """One sentence a newcomer reads at once, e.g. "int8 QAT is 2.50x faster and 4.00x smaller
    than float32, at 0.42 points lower mIoU (56.59% against 57.01%)." ``threads``: as in the
    latency card (None: the largest thread count both exports measured)."""
    b_label, h_label = base["label"], head["label"]
    parts = []
    b_ms, h_ms = _median(base, threads), _median(head, threads)
    if b_ms and h_ms:
        parts.append(f"{b_ms / h_ms:.2f}x faster" if h_ms <= b_ms else f"{h_ms / b_ms:.2f}x slower")
    b_size, h_size = base["benchmark"]["size_bytes"], head["benchmark"]["size_bytes"]
    if b_size and h_size:
        parts.append(f"{b_size / h_size:.2f}x smaller" if h_size <= b_size else f"{h_size / b_size:.2f}x larger")
    sentence = f"{h_label} is {' and '.join(parts) or 'measured'} than {b_label}"
    b_miou, h_miou = base["metrics"]["miou"], head["metrics"]["miou"]
    if b_miou is None or h_miou is None:
        return sentence + "."
    points = (h_miou - b_miou) * 100
    if abs(points) < 0.005:
        accuracy = "the same mIoU"
    else:
        accuracy = f"{abs(points):.2f} points {'lower' if points < 0 else 'higher'} mIoU"
    return f"{sentence}, at {accuracy} ({_pct(h_miou)} against {_pct(b_miou)})."


def _curve(summary: dict) -> str:
    return f'<section id="learning-curve"><h2>Learning curve</h2>{learning_curve_svg(summary["curve"])}</section>'


def _iou(summary: dict) -> str:
    names = [str(n) for n in summary["class_names"]]
    models = [(FLOAT_LABEL, summary["float_eval"]["per_class_iou"])]
    models += [(e["label"], e["metrics"]["per_class_iou"]) for e in summary["exports"]]
    for label, per_class in models:
        missing = [n for n in names if n not in per_class]
        if missing:
            raise ValueError(f"per_class_iou of {label!r} lacks the class(es) {missing}")
    return (f'<section id="per-class-iou"><h2>Per-class IoU</h2><p class="sub">IoU per class and model; '
            f'"absent": the class does not occur in the evaluated split.</p>'
            f'{iou_chart_svg(names, summary["colors"], models)}</section>')  # fmt: skip


def _exports(summary: dict, threads: int | None) -> str:
    rows = []
    for export in summary["exports"]:
        bench, delegation = export["benchmark"], export["benchmark"]["delegation"]
        on, off = _run(bench, threads, True), _run(bench, threads, False)
        rows.append([
            f'<b>{_e(export["label"])}</b><br><code>{_e(os.path.basename(export["file"]))}</code>',
            _e(export["quantization"]), f"{bench['size_bytes'] / 1e6:.2f}", _e(_pct(export["metrics"]["miou"])),
            *(f"{r['median_ms']:.1f} · {r['p90_ms']:.1f}" if r else "—" for r in (on, off)),
            f"{delegation['fraction'] * 100:.1f}% ({delegation['delegated_ops']}/{delegation['ops']})",
            str(delegation["partitions"]),
        ])  # fmt: skip
    head = ["model", "quantization", "size MB", "mIoU", "XNNPACK<br><small>median · p90</small>",
            "builtin<br><small>median · p90</small>", "ops taken by XNNPACK", "partitions"]  # fmt: skip
    note = (f'<p class="sub">Latency in ms with {threads} threads (median and 90th percentile of the timed runs), '
            "with LiteRT's default XNNPACK delegate and with its builtin kernels only.</p>")
    return (f'<section id="exports"><h2>Exports</h2>{note}'
            + _table(head, rows, [False, False, True, True, True, True, True, True]) + "</section>")  # fmt: skip


def _ops(summary: dict) -> str:
    exports = summary["exports"]
    names = sorted({op for e in exports for op in e["benchmark"]["op_histogram"]})
    rows = []
    for op in names:
        row = [f"<code>{_e(op)}</code>"]
        for export in exports:
            count = export["benchmark"]["op_histogram"].get(op, 0)
            left_out = export["benchmark"]["delegation"]["not_delegated"].get(op, 0)
            text = str(count) if count else ""
            row.append(f'<span class="nd" title="not delegated to XNNPACK">{text} ({left_out} on CPU)</span>'
                       if left_out else text)  # fmt: skip
        rows.append(row)
    head = ["op"] + [_e(e["label"]) for e in exports]
    note = ('<p class="sub">Operator count per exported model; <span class="nd">highlighted</span>: '
            "(some of) these ops are not delegated to XNNPACK and run on the builtin CPU kernels.</p>")
    return f'<section id="ops"><h2>Ops</h2>{note}' + _table(head, rows, [False] + [True] * len(exports)) + "</section>"


def _thumbnail(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    if height <= THUMB_HEIGHT:
        return rgb
    size = (max(1, round(width * THUMB_HEIGHT / height)), THUMB_HEIGHT)
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _mask(mask, shape, where: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[-1] == 1:
        mask = mask[..., 0]
    if mask.ndim != 2:
        raise ValueError(f"{where} must be an [H, W] label mask, got shape {mask.shape}")
    if mask.shape != shape:
        mask = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask


def _overlays(summary: dict) -> str:
    names, colors = summary["class_names"], [tuple(int(v) for v in c) for c in summary["colors"]]
    palette = colors + [IGNORE_COLOR] * (256 - len(colors))  # ignore and unknown ids: dark grey
    labels = list(dict.fromkeys(label for s in summary["overlays"] for label in s["predictions"]))
    present, ignored, rows = set(), False, []
    for i, sample in enumerate(summary["overlays"]):
        image = np.asarray(sample["image"], np.uint8)
        if image.ndim != 3 or image.shape[-1] != 3:
            raise ValueError(f"summary['overlays'][{i}]['image'] must be RGB [H, W, 3], got {image.shape}")
        masks = [_mask(sample["ground_truth"], image.shape[:2], f"summary['overlays'][{i}]['ground_truth']")]
        for label in labels:
            if label not in sample["predictions"]:
                raise ValueError(f"summary['overlays'][{i}]['predictions'] lacks the model {label!r}")
            masks.append(_mask(sample["predictions"][label], image.shape[:2], f"prediction {label!r}"))
        for mask in masks:
            ids = np.unique(mask)
            present.update(int(c) for c in ids if c < len(colors))
            ignored = ignored or bool((ids >= len(colors)).any())
        pictures = [image] + [blend(image, mask, palette, 0.55) for mask in masks]
        cells = [f'<img src="{_png_uri(_thumbnail(p))}" alt="{_e(sample["name"])}">' for p in pictures]
        rows.append(f'<tr><td class="name" colspan="{len(cells)}">{_e(sample["name"])}</td></tr>'
                    f"<tr>{''.join(f'<td>{cell}</td>' for cell in cells)}</tr>")
    entries = [(colors[c], names[c]) for c in sorted(present)] + ([(IGNORE_COLOR, "ignored / unlabeled")] * ignored)
    legend = "".join(f"<span>{_swatch(color)}{_e(name)}</span>" for color, name in entries)
    head = "".join(f"<th>{_e(text)}</th>" for text in ["image", "ground truth", *labels])
    return (f'<section id="overlays"><h2>Overlays</h2><div class="overlays"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>'
            + f'<div class="legend">{legend}</div></section>')  # fmt: skip


def _next_steps(summary: dict) -> str:
    steps = "".join(f"<p>{_e(s['text'])}</p><pre>{_e(s['command'])}</pre>" for s in summary["next_steps"])
    files = _table(["file", "path"], [[_e(f["label"]), f"<code>{_e(f['path'])}</code>"] for f in summary["files"]],
                   [False, False])  # fmt: skip
    return f'<section id="next-steps"><h2>Next steps</h2>{steps}<h2>Files</h2>{files}</section>'


def render_report(summary: dict) -> str:
    """The demo report as one self-contained HTML page.

    Args:
      summary: what the demo measured; see ``deeplab_tf.demo`` and the keys
        checked here (title, experiment, dataset, input_size, created, machine,
        workdir, stages, class_names, colors, curve, float_eval, exports,
        overlays, next_steps, files; optional baseline/headline export labels).

    Returns:
      The HTML text (no scripts, no external references).

    Raises:
      ValueError: a missing key or inconsistent values (named in the message).
    """
    _check(summary)
    threads = _threads(summary["exports"])
    body = [
        _header(summary), _headline(summary, threads), _curve(summary), _iou(summary),
        _exports(summary, threads), _ops(summary), _overlays(summary), _next_steps(summary),
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(summary['title'])}</title><style>{STYLE}</style></head>\n<body><main>\n"
        + "\n".join(body)
        + "\n</main></body></html>\n"
    )


def write_report(path: str, summary: dict) -> str:
    """Renders ``summary`` and writes it to ``path`` through a temporary name; returns ``path``.

    Raises:
      ValueError: as ``render_report`` (nothing is written then).
    """
    write_bytes_atomic(path, render_report(summary).encode("utf-8"))
    return path
