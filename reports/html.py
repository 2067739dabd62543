"""Rendering the report: a jinja2 template with autoescaping on, and its number filters.

Every string that comes from data (class names, model names, paths, descriptions) goes through
jinja2's autoescape, so ``<script>`` in a name is shown as text. Images are ``data:`` URIs.
"""

from __future__ import annotations

import base64
import math
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE = "report.html.j2"
#: What the report shows for a value that could not be computed (never 0).
MISSING = "–"


def png_data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` for inlining a PNG in the page."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _finite(value) -> bool:
    return value is not None and isinstance(value, (int, float)) and math.isfinite(value)


def fmt_number(value, digits: int = 3) -> str:
    """``0.812`` for a finite number, :data:`MISSING` otherwise."""
    return f"{value:.{digits}f}" if _finite(value) else MISSING


def fmt_spread(value, std, digits: int = 3) -> str:
    """``0.812 ± 0.021``; ``0.812`` without a spread (a hold-out); :data:`MISSING` without a value."""
    if not _finite(value):
        return MISSING
    return f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if _finite(std) else "")


def fmt_signed(value, digits: int = 3) -> str:
    """``+0.031`` / ``-0.012``; :data:`MISSING` for a missing value."""
    return f"{value:+.{digits}f}" if _finite(value) else MISSING


def fmt_interval(low, high, digits: int = 3) -> str:
    """``[0.781, 0.842]``, or an empty string without an interval."""
    if not (_finite(low) and _finite(high)):
        return ""
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def fmt_seconds(value) -> str:
    """Seconds in a readable unit: ``850 µs``, ``12.3 ms``, ``4.56 s``, ``3.2 min``, ``1.5 h``."""
    if not _finite(value):
        return MISSING
    for limit, scale, unit in ((1e-3, 1e6, "µs"), (1.0, 1e3, "ms"), (120.0, 1.0, "s"), (7200.0, 1 / 60, "min")):
        if value < limit:
            return f"{value * scale:.3g} {unit}"
    return f"{value / 3600:.3g} h"


def fmt_bytes(value) -> str:
    """Bytes in a readable unit: ``123 B``, ``4.5 kB``, ``12.3 MB``, ``1.2 GB``."""
    if not _finite(value):
        return MISSING
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.3g} {unit}"
        value /= 1000
    return f"{value:.3g} GB"


def sort_key(value) -> str:
    """A ``data-sort`` attribute value: the number, or empty for a missing one (sorted last)."""
    return repr(float(value)) if _finite(value) else ""


def environment() -> jinja2.Environment:
    """The jinja2 environment of the report: autoescape on for every template, strict undefined."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=fmt_number, seconds=fmt_seconds, nbytes=fmt_bytes, sortkey=sort_key,
                       signed=fmt_signed)
    env.globals.update(interval=fmt_interval, spread=fmt_spread, missing=MISSING)
    env.tests["finite"] = _finite
    return env


def render_report(context: dict) -> str:
    """The report's HTML for a context built by :func:`reports.context.report_context`."""
    return environment().get_template(TEMPLATE).render(**context)
