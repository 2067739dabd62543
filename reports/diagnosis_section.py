"""The report's "Diagnosis" section as plain data for its template (``diagnosis.html.j2``)."""

from __future__ import annotations

from reports import diagnosis_rules as rules
from reports.diagnosis import NAMED, NO_EVIDENCE, Diagnosis


def _verdict(d) -> str:
    if not d.enough:
        return (f"not enough evidence ({d.n_positive} positive and {d.n_observed - d.n_positive} negative "
                f"pairs; each needs ≥ {rules.MIN_POSITIVES})")
    named = d.named
    if named:
        return "; ".join(
            f.label + (f" ({', '.join(f.partners)})" if f.partners else "") for f in named)
    missing = [f.label for f in d.findings.values() if f.status == NO_EVIDENCE]
    return "none of the causes by these rules" + (
        f" (not enough evidence for: {', '.join(missing)})" if missing else "")


def diagnosis_context(diag: Diagnosis, labels: dict[str, str], images: dict[str, str]) -> dict:
    """Everything the Diagnosis section shows.

    Parameters
    ----------
    diag : Diagnosis
    labels : dict model id -> display label
    images : dict instrument -> data URI of its figure (:func:`reports.diagnosis_plots.plot_instrument_diagnosis`)
    """
    rows = []
    for i, d in enumerate(diag.instruments):
        rows.append({
            "instrument": d.instrument,
            "anchor": f"diag-{i}",
            "f1": d.f1,
            "threshold": d.threshold,
            "n_observed": d.n_observed,
            "n_positive": d.n_positive,
            "verdict": _verdict(d),
            "named": bool(d.enough and d.named),
            "evidence": [f.evidence for f in d.named] if d.enough else [],
            "findings": [{"label": f.label, "status": f.status, "evidence": f.evidence}
                         for f in d.findings.values()],
            "image": images.get(d.instrument),
        })
    return {
        "model": labels.get(diag.model, diag.model),
        "how": diag.how,
        "units": diag.units,
        "n_boot": diag.n_boot,
        "ci_level": rules.CI_LEVEL,
        "rules": rules.rules_text(),
        "curve_note": diag.curve_note,
        "named_status": NAMED,
        "rows": rows,
    }
