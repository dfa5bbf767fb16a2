"""The backtest reports ``tiktrend backtest --out DIR`` wrote (``DIR/backtest.json``), found under one directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pandas as pd

REPORT_FILE: Final = "backtest.json"
# The scalar figures of each detector kept in the summary rows (the full report has curves and lists too).
FIGURES: Final = (
    "alerts",
    "precision",
    "recall",
    "f1",
    "lead_median",
    "lead_mean",
    "false_positive_rate",
    "precision_at_k",
    "auc",
    "generic_in_top_k",
)


class ReportNotFound(LookupError):
    """No backtest report of that name under the reports directory."""


def _report_paths(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(directory.rglob(REPORT_FILE), key=lambda p: (-p.stat().st_mtime, str(p)))


def _name(directory: Path, path: Path) -> str:
    relative = path.parent.relative_to(directory).as_posix()
    return relative if relative != "." else "."


def backtest_reports(directory: Path) -> pd.DataFrame:
    """One row per detector and ground truth of every report, newest report first.

    Columns: ``report`` (its folder, relative to ``directory``), ``title``, ``grain``, ``start``, ``end``,
    ``modified``, ``truth``, ``detector``, ``best`` (best F1 for that truth) and the scalar figures.
    """
    rows: list[dict[str, Any]] = []
    for path in _report_paths(directory):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            truths = report["truths"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a report being written or not one of ours: it shows up once it is whole
        modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).replace(tzinfo=None)
        for truth in truths:
            for figures in truth.get("detectors", []):
                rows.append(
                    {
                        "report": _name(directory, path),
                        "title": report.get("title"),
                        "grain": report.get("grain"),
                        "start": report.get("start"),
                        "end": report.get("end"),
                        "modified": modified,
                        "truth": truth.get("name"),
                        "detector": figures.get("detector"),
                        "best": figures.get("detector") == truth.get("best_by_f1"),
                        **{name: figures.get(name) for name in FIGURES},
                    }
                )
    columns = ["report", "title", "grain", "start", "end", "modified", "truth", "detector", "best", *FIGURES]
    return pd.DataFrame(rows, columns=columns)


def backtest_report(directory: Path, name: str) -> dict[str, Any]:
    """The whole JSON report in ``directory / name``; ReportNotFound for anything else (no path escapes)."""
    root = directory.resolve()
    path = (root / name / REPORT_FILE).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise ReportNotFound(f"no backtest report named {name!r} under {directory}")
    try:
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReportNotFound(f"the backtest report {name!r} cannot be read: {exc}") from exc
    return found
