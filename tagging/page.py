"""The tag command's HTML page: per file, a heatmap (instrument x time) per model and the verdicts.

One self-contained page (PNG heatmaps as ``data:`` URIs, inline CSS, no script), in the report's
style. Each file's section is rendered when the file is finished and kept in a side file, so the
page costs no memory per file; `write_page` assembles it at the end, atomically. Every string
from the user (file names, paths) goes through jinja2's autoescape.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.atomic import atomic_write
from reports.html import fmt_number, png_data_uri
from reports.plots import figure_png
from tagging.models import RunModel
from tagging.score import FileScore, Timeline

HEATMAP_DPI = 80
HEATMAP_WIDTH_IN = 12.0
SECTIONS_NAME = ".tags-sections.html"

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                          lstrip_blocks=True)
_ENV.filters["num"] = fmt_number

_SECTION = _ENV.from_string("""\
<section class="file" id="file-{{ index }}">
<h2>{{ record.file }}</h2>
{% if record.status == "scored" %}
<p>{{ "%.1f" | format(record.duration_s) }} s, {{ record.sample_rate_hz }} Hz, {{ record.channels }} channel(s); {{ windows }}.</p>
<table class="verdicts">
<tr><th class="name">instrument</th>{% for m in models %}<th>{{ m.label }}</th>{% endfor %}</tr>
{% for instrument in instruments %}
<tr><td class="name">{{ instrument }}</td>
{% for m in models %}{% set v = record.models[m.id] %}{% if instrument in v.probability %}
<td class="{{ 'present' if instrument in v.present else '' }}">{{ v.probability[instrument] | num }}{% if instrument in v.present %} ✓{% endif %}</td>
{% else %}<td>–</td>{% endif %}{% endfor %}</tr>
{% endfor %}
</table>
{% for m in models %}
<figure><img class="heatmap" alt="{{ record.file }} · {{ m.label }}" src="{{ images[m.id] }}"></figure>
{% endfor %}
{% else %}
<p class="problem">Not scored ({{ record.status }}): {{ record.message }}</p>
{% endif %}
</section>
""")

_PAGE_HEAD = _ENV.from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Instrument tags: {{ n_scored }} of {{ n_files }} file(s)</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 1.2em 3em; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; font-size: 1.1em; word-break: break-all; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; }
th { background: #f3f3f3; }
td.name, th.name { text-align: left; }
td.present { font-weight: bold; background: #e8f5e9; }
.problem, .demo { background: #fdecea; border-left: 4px solid #d32f2f; padding: .5em 1em; }
img { max-width: 100%; height: auto; }
figure { margin: .5em 0; }
</style>
</head>
<body>
<h1>Instrument tags: {{ n_scored }} of {{ n_files }} file(s) scored</h1>
<p>Models of the run <code>{{ run_dir }}</code>: {{ labels | join(", ") }}. {{ dataset }}</p>
{% if demo %}<p class="demo">These models were trained on the SYNTHETIC demo set: their tags say what they learnt from rendered General MIDI instruments, not from real recordings.</p>{% endif %}
<p>Each model scores sliding 10 s windows, each extracted like a training clip ({{ hops }}); a
heatmap shows one column per window, at its centre. The whole-file probability is the highest
window's; an instrument is present (✓, bold) where it reaches the model's threshold, chosen on the
run's validation data.</p>
""")


def heatmap_png(timeline: Timeline, classes: tuple[str, ...], thresholds: np.ndarray,
                title: str) -> bytes:
    """PNG of one model's probabilities over a file (instrument rows x window columns)."""
    centres = (timeline.start_s + timeline.end_s) / 2
    if len(centres) == 1:
        edges = np.array([timeline.start_s[0], timeline.end_s[0]])
    else:
        mid = (centres[1:] + centres[:-1]) / 2
        edges = np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])
    height = 1.0 + 0.16 * len(classes)
    fig = Figure(figsize=(HEATMAP_WIDTH_IN, height))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    mesh = ax.pcolormesh(edges, np.arange(len(classes) + 1), timeline.proba.T, vmin=0.0, vmax=1.0,
                         cmap="viridis", shading="flat")
    present = timeline.proba >= thresholds
    ax.set_yticks(np.arange(len(classes)) + 0.5,
                  [f"{c} ({present[:, k].mean():.0%})" for k, c in enumerate(classes)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time (s), window centres", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(f"{title}: P(present); in brackets the share of windows at or above the threshold",
                 fontsize=8)
    fig.colorbar(mesh, ax=ax, pad=0.01, fraction=0.03).ax.tick_params(labelsize=7)
    return figure_png(fig, dpi=HEATMAP_DPI)


def write_section(out_dir: Path, index: int, record: dict[str, Any], models: list[RunModel],
                  score: FileScore | None) -> None:
    """Render one file's section and append it to the side file of sections."""
    images, instruments = {}, []
    if score is not None:
        for model in models:
            png = heatmap_png(score.timelines[model.id], model.classes, model.thresholds, model.label)
            images[model.id] = png_data_uri(png)
        instruments = list(dict.fromkeys(c for m in models for c in m.classes))
    counts: dict[str, int] = {}
    for model in models if score is not None else ():
        counts[model.input.extractor] = len(score.timelines[model.id].start_s)
    windows = ", ".join(f"{n} window(s) of {e}" for e, n in counts.items())
    html = _SECTION.render(index=index, record=record, models=models, instruments=instruments,
                           images=images, windows=windows)
    with (out_dir / SECTIONS_NAME).open("a", encoding="utf-8") as fh:
        fh.write(html)


def write_page(out_dir: Path, page_name: str, *, run_dir: Path, models: list[RunModel],
               dataset: str, demo: bool, n_files: int, n_scored: int) -> Path:
    """Assemble the page from the sections written so far; returns its path."""
    hops = "; ".join(sorted({f"{m.input.extractor} every {m.input.hop_s:g} s" for m in models}))
    head = _PAGE_HEAD.render(run_dir=str(run_dir), labels=[m.label for m in models], demo=demo,
                             dataset=dataset, hops=hops, n_files=n_files, n_scored=n_scored)
    sections = out_dir / SECTIONS_NAME

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as out:
            out.write(head)
            if sections.exists():
                with sections.open(encoding="utf-8") as fh:
                    shutil.copyfileobj(fh, out)
            out.write("</body>\n</html>\n")

    path = atomic_write(out_dir / page_name, write)
    sections.unlink(missing_ok=True)
    return path
