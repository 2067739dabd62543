"""The tag command's files: ``tags.csv`` and ``tags.json`` written as files are scored, the page last.

``tags.csv`` is tidy, one row per (file, window, model, instrument) and one per (file, model,
instrument) for the whole file (``scope`` "window" or "file"). Rows are appended while a file is
scored; when the file then fails (damage half-way, silence), its rows are cut off again, so the
CSV only ever holds files scored to the end. ``tags.json`` is written the same way, one file's
record at a time; both are complete once the command ends. The HTML page is assembled at the end
from one section per file, rendered when that file was finished (`tagging.page`).
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import json_plain
from tagging.models import RunModel
from tagging.score import FileScore

CSV_NAME, JSON_NAME, PAGE_NAME = "tags.csv", "tags.json", "tags.html"
COLUMNS = ("file", "start_s", "end_s", "model", "instrument", "probability", "present", "scope")


class TagWriter:
    """Writes ``tags.csv`` and ``tags.json`` into `out_dir` file by file.

    Parameters
    ----------
    out_dir : Path
        Created if needed.
    header : dict
        ``tags.json``'s top-level facts (run folder, models, windows, ...).
    """

    def __init__(self, out_dir: Path, header: dict[str, Any]) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir = out_dir
        self._csv = (out_dir / CSV_NAME).open("w", newline="", encoding="utf-8")
        self._rows = csv.writer(self._csv)
        self._rows.writerow(COLUMNS)
        self._json = (out_dir / JSON_NAME).open("w", encoding="utf-8")
        head = json.dumps(header, indent=1, default=json_plain)
        self._json.write(head[:-1].rstrip() + ',\n "files": [\n')
        self._n_records = 0
        self._mark = self._csv.tell()
        self._name = ""

    def begin(self, name: str) -> None:
        """Start the rows of file `name` (as the user gave it)."""
        self._csv.flush()
        self._mark = self._csv.tell()
        self._name = name

    def window_rows(self, model: RunModel, start_s: np.ndarray, end_s: np.ndarray,
                    proba: np.ndarray) -> None:
        """Append the rows of a batch of windows of the current file."""
        present = proba >= model.thresholds
        for i in range(len(start_s)):
            for k, instrument in enumerate(model.classes):
                self._rows.writerow((self._name, f"{start_s[i]:.3f}", f"{end_s[i]:.3f}", model.id,
                                     instrument, f"{proba[i, k]:.6f}", int(present[i, k]), "window"))

    def discard(self) -> None:
        """Cut off the current file's rows (it failed or was silent)."""
        self._csv.flush()
        self._csv.seek(self._mark)
        self._csv.truncate()

    def finish(self, score: FileScore, models: list[RunModel]) -> dict[str, Any]:
        """Append the whole-file rows and the file's ``tags.json`` record; returns the record."""
        verdicts = {}
        for model in models:
            whole = score.timelines[model.id].whole
            present = whole >= model.thresholds
            for k, instrument in enumerate(model.classes):
                self._rows.writerow((self._name, "0.000", f"{score.duration_s:.3f}", model.id,
                                     instrument, f"{whole[k]:.6f}", int(present[k]), "file"))
            verdicts[model.id] = {
                "probability": dict(zip(model.classes, whole.tolist(), strict=True)),
                "present": [c for c, p in zip(model.classes, present, strict=True) if p],
                "n_windows": len(score.timelines[model.id].start_s),
            }
        self._csv.flush()
        record = {"file": self._name, "status": "scored", "duration_s": score.duration_s,
                  "sample_rate_hz": score.sr, "channels": score.channels,
                  "peak_dbfs": json_number(score.peak_dbfs), "models": verdicts}
        self._record(record)
        return record

    def failed(self, name: str, status: str, message: str) -> dict[str, Any]:
        """Record a file that was not scored (status "error" or "silent") and why."""
        record = {"file": name, "status": status, "message": message}
        self._record(record)
        return record

    def _record(self, record: dict[str, Any]) -> None:
        text = json.dumps(record, indent=1, default=json_plain)
        self._json.write(("" if self._n_records == 0 else ",\n") + text)
        self._json.flush()
        self._n_records += 1

    def close(self) -> None:
        """Finish both files (also after an interruption: they stay valid)."""
        self._json.write("\n ]\n}\n")
        for handle in (self._csv, self._json):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()


def json_number(value: float) -> float | None:
    """A float for JSON (None for -inf peak of digital silence and NaN)."""
    return float(value) if math.isfinite(value) else None
