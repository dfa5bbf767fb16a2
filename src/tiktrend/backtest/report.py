"""A backtest as JSON, Markdown and HTML (with matplotlib figures embedded as PNG)."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.backtest.evaluate import Metrics, tpr_at_fpr
from tiktrend.backtest.replay import BacktestResult

COLUMNS = {
    "alerts": "alerts",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "lead_median": "lead median",
    "lead_mean": "lead mean",
    "false_positive_rate": "FPR",
    "precision_at_k": "P@k",
    "auc": "ROC AUC",
    "generic_in_top_k": "generic in top k",
}
_ROC_POINTS = 200  # a curve with more points than this is thinned for the JSON and the plots


def to_dict(result: BacktestResult) -> dict[str, Any]:
    """Everything in the backtest, JSON-able (NaN becomes null)."""
    truths = []
    for truth in result.truths:
        truths.append(
            {
                "name": truth.name,
                "events": len(truth.events),
                "events_judged": judged_events(result, truth.name),
                "note": truth.note,
                "best_by_f1": result.best(truth.name) if result.metrics[truth.name] else None,
                "detectors": [_metrics_dict(m) for m in result.metrics[truth.name]],
            }
        )
    cleaned: dict[str, Any] = _clean(
        {
            "title": result.title,
            "grain": result.grain,
            "start": None if result.start is None else result.start.isoformat(),
            "end": None if result.end is None else result.end.isoformat(),
            "keys": result.n_keys,
            "keywords": result.n_keywords,
            "settings": result.settings,
            "detectors": result.detectors,
            "seconds": result.seconds,
            "notes": result.notes,
            "truths": truths,
        }
    )
    return cleaned


def to_json(result: BacktestResult) -> str:
    """The backtest as indented JSON."""
    return json.dumps(to_dict(result), indent=2, ensure_ascii=False, sort_keys=False)


def to_markdown(result: BacktestResult) -> str:
    """Tables a person reads: one per ground truth, one row per detector."""
    lines = [f"# {result.title}", "", *_preamble(result), ""]
    for truth in result.truths:
        lines += [f"## Ground truth: {truth.name} ({judged_events(result, truth.name)} events judged)", ""]
        if truth.note:
            lines += [truth.note, ""]
        lines += [_markdown_table(metrics_table(result, truth.name)), ""]
        if result.metrics[truth.name]:
            lines += [f"Best by F1: **{result.best(truth.name)}**.", ""]
        lines += _misses(result.metrics[truth.name])
    lines += ["## Detector parameters", ""]
    lines += [f"- `{name}`: {_params(p)}" for name, p in result.detectors.items()]
    if result.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in result.notes]]
    return "\n".join(lines) + "\n"


def judged_events(result: BacktestResult, truth: str) -> int:
    """Events whose window meets a judged bucket (the denominator of recall)."""
    metrics = result.metrics[truth]
    return metrics[0].events if metrics else 0


def metrics_table(result: BacktestResult, truth: str) -> pd.DataFrame:
    """The figures of one ground truth with readable column names."""
    table = result.table(truth)[list(COLUMNS)].rename(columns=COLUMNS)
    return table.rename(columns={"P@k": f"P@{result.settings.get('k', 'k')}"})


def to_html(result: BacktestResult) -> str:
    """A standalone HTML page: the tables and, per ground truth, ROC curves and lead times."""
    body = [f"<h1>{html.escape(result.title)}</h1>", "<p>" + "<br>".join(map(html.escape, _preamble(result))) + "</p>"]
    for truth in result.truths:
        body.append(
            f"<h2>Ground truth: {html.escape(truth.name)} ({judged_events(result, truth.name)} events judged)</h2>"
        )
        if truth.note:
            body.append(f"<p>{html.escape(truth.note)}</p>")
        body.append(metrics_table(result, truth.name).to_html(float_format=_fmt, na_rep="-", border=0))
        if result.metrics[truth.name]:
            body.append(f'<img alt="ROC and lead times" src="data:image/png;base64,{_figure(result, truth.name)}">')
    body.append("<h2>Detector parameters</h2><ul>")
    body += [f"<li><code>{html.escape(n)}</code>: {html.escape(_params(p))}</li>" for n, p in result.detectors.items()]
    body.append("</ul>")
    if result.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in result.notes) + "</ul>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{padding:.25em .6em;text-align:right;border-bottom:1px solid #ddd}"
        "img{max-width:100%}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(result.title)}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_reports(result: BacktestResult, out_dir: Path, *, html_report: bool = True) -> dict[str, Path]:
    """Write ``backtest.md``, ``backtest.json`` and (when asked) ``backtest.html`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "backtest.md", "json": out_dir / "backtest.json"}
    paths["markdown"].write_text(to_markdown(result), encoding="utf-8")
    paths["json"].write_text(to_json(result) + "\n", encoding="utf-8")
    if html_report:
        paths["html"] = out_dir / "backtest.html"
        paths["html"].write_text(to_html(result), encoding="utf-8")
    return paths


def _preamble(result: BacktestResult) -> list[str]:
    period = f"{result.start:%Y-%m-%d %H:%M} to {result.end:%Y-%m-%d %H:%M}" if result.start is not None else "empty"
    settings = ", ".join(f"{k}={v}" for k, v in result.settings.items())
    return [
        f"History: {period} in {result.grain} buckets; {result.n_keywords:,} keywords "
        f"({result.n_keys:,} keyword x slice series).",
        f"Settings: {settings}.",
    ]


def _misses(metrics: list[Metrics]) -> list[str]:
    lines = []
    for m in metrics:
        if m.missed and len(m.missed) <= 12:
            lines.append(f"- `{m.detector}` missed: {', '.join(m.missed)}")
    return [*lines, ""] if lines else []


def _markdown_table(table: pd.DataFrame) -> str:
    header = "| detector | " + " | ".join(table.columns) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in table.columns) + " |"
    rows = [f"| {name} | " + " | ".join(_fmt(v) for v in row) + " |" for name, row in table.astype(object).iterrows()]
    return "\n".join([header, rule, *rows])


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return f"{float(value):.3f}" if abs(float(value)) < 10 else f"{float(value):.1f}"


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def _metrics_dict(metrics: Metrics) -> dict[str, Any]:
    fpr, tpr = _thin(np.array(metrics.roc_fpr), np.array(metrics.roc_tpr))
    return {
        **metrics.summary(),
        "tpr_at_fpr": {f"{level:.0%}": tpr_at_fpr(np.array(metrics.roc_fpr), np.array(metrics.roc_tpr), level)
                       for level in (0.01, 0.05, 0.10)},
        "leads": metrics.leads,
        "missed": metrics.missed,
        "false_alert_keywords": metrics.false_alerts[:50],
        "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
    }  # fmt: skip


def _thin(fpr: np.ndarray, tpr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(fpr) <= _ROC_POINTS:
        return fpr, tpr
    keep = np.unique(np.r_[np.linspace(0, len(fpr) - 1, _ROC_POINTS).astype(int), len(fpr) - 1])
    return fpr[keep], tpr[keep]


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (pd.Timestamp, pd.Timedelta)):
        return str(value)
    return value


def _figure(result: BacktestResult, truth: str) -> str:
    """ROC curves and lead times of every detector, as a base64 PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # the HTML report is optional; the message says how to get it
        raise ValueError("the HTML report needs matplotlib: pip install 'tiktrend[backtest]'") from exc
    metrics = result.metrics[truth]
    figure, (roc, leads) = plt.subplots(1, 2, figsize=(11, 4.2))
    for m in metrics:
        roc.step(m.roc_fpr, m.roc_tpr, where="post", label=f"{m.detector} (AUC {_fmt(m.auc)})")
    roc.plot([0, 1], [0, 1], color="#bbb", linewidth=0.8, linestyle="--")
    roc.set(xscale="symlog", xlim=(0, 1), ylim=(0, 1.02), xlabel="false-positive rate (keywords)", ylabel="recall")
    roc.set_xscale("symlog", linthresh=0.01)
    roc.set_title("ROC (keyword level)")
    roc.legend(loc="lower right", fontsize=8)
    data = [m.leads or [np.nan] for m in metrics]
    leads.boxplot(data, tick_labels=[m.detector for m in metrics], showmeans=True)
    leads.axhline(0, color="#bbb", linewidth=0.8)
    leads.set(ylabel=f"lead ({result.grain}s before the moment)", title="Lead time of detected events")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
