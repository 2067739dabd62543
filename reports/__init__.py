"""Metrics, bootstrap intervals, model comparisons, plots and the HTML report of a run folder.

>>> from reports import build_report
>>> build_report("runs/demo")  # doctest: +SKIP

``reports.browser_check.check_report_in_browser`` (needs selenium and Chromium) opens a report in
headless Chromium and returns what it saw; it is not imported here.
"""

from reports.bootstrap import Evaluation, evaluate
from reports.build import build_report
from reports.compare_models import compare_models, holm
from reports.run_folder import Predictions, read_predictions, write_predictions
from reports.tables import metrics_table

__all__ = [
    "Evaluation",
    "Predictions",
    "build_report",
    "compare_models",
    "evaluate",
    "holm",
    "metrics_table",
    "read_predictions",
    "write_predictions",
]
