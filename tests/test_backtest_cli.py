"""`tiktrend backtest` as a person runs it: on a simulation, on external labelled series, and its reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tiktrend.backtest.external import evaluate_external, read_labels_csv, read_series_csv
from tiktrend.cli import app
from tiktrend.trends.detectors import default_detectors


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    monkeypatch.setenv("TIKTREND_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TIKTREND_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return invoke


def write_labelled(tmp_path: Path, seed: int = 0) -> tuple[Path, Path]:
    """40 series of hourly counts: 10 take off at hour 50 (onset at 64), 30 stay flat with noise."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for i in range(40):
        trend = i < 10
        rate = np.full(96, rng.uniform(1, 8))
        if trend:
            rate[50:] *= np.exp(np.linspace(0, 3, 46))
        for t, value in enumerate(rng.poisson(rate)):
            rows.append({"series_id": f"s{i}", "t": t, "value": int(value)})
        labels.append(
            {"series_id": f"s{i}", "label": "trend" if trend else "non-trend", "onset_t": 64 if trend else ""}
        )
    series, truth = tmp_path / "series.csv", tmp_path / "labels.csv"
    pd.DataFrame(rows).to_csv(series, index=False)
    pd.DataFrame(labels).to_csv(truth, index=False)
    return series, truth


def test_external_series_separate_trends_from_flat_series(tmp_path: Path) -> None:
    series, labels = write_labelled(tmp_path)
    result = evaluate_external(read_series_csv(series), read_labels_csv(labels), default_detectors("hour"))
    table = result.table()
    assert (result.series, result.positives) == (40, 10)
    assert "velocity" in result.skipped  # no engagement in a plain series
    assert table.loc["poisson", "auc"] > 0.9
    assert table.loc["poisson", "auc"] > table.loc["threshold", "auc"] - 0.05
    assert list(table.columns[:4]) == ["auc", "tpr@1%", "tpr@5%", "tpr@10%"]


def test_cli_prints_auc_and_tpr_for_external_series(cli: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    series, labels = write_labelled(tmp_path, seed=1)
    code, out = cli("backtest", "--series", str(series), "--labels", str(labels))
    assert code == 0, out
    assert "40 labelled series (10 trends)" in out
    assert "tpr@1%" in out and "poisson" in out
    code, out = cli("backtest", "--series", str(series), "--labels", str(labels), "--json")
    assert code == 0, out
    payload = json.loads(out)
    assert {row["detector"] for row in payload["detectors"]} >= {"threshold", "poisson", "zscore"}


def test_external_inputs_are_checked(cli: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,when,count\n1,2,3\n", encoding="utf-8")
    code, out = cli("backtest", "--series", str(bad), "--labels", str(bad))
    assert code == 2 and "missing column(s) series_id, t, value" in out
    code, out = cli("backtest", "--series", str(bad))
    assert code == 2 and "--series and --labels go together" in out
    code, out = cli("backtest", "--detectors", "magic")
    assert code == 2 and "unknown detector 'magic'" in out


def test_backtest_on_a_simulation_writes_the_three_reports(cli: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    out_dir = tmp_path / "report"
    args = ("backtest", "--simulate", "--hours", "60", "--rate", "120", "--trends", "4", "--seed", "5")
    code, out = cli(*args, "--out", str(out_dir))
    assert code == 0, out
    assert "planted: 4 events judged" in out and "best by F1" in out
    report = json.loads((out_dir / "backtest.json").read_text(encoding="utf-8"))
    assert [d["detector"] for d in report["truths"][0]["detectors"]] == [
        "threshold", "poisson", "zscore", "velocity", "ensemble"
    ]  # fmt: skip
    assert "| detector | alerts | precision |" in (out_dir / "backtest.md").read_text(encoding="utf-8")
    assert "data:image/png;base64," in (out_dir / "backtest.html").read_text(encoding="utf-8")


def test_backtest_on_an_empty_store_says_what_to_do(cli: Callable[..., tuple[int, str]]) -> None:
    code, out = cli("backtest")
    assert code == 2 and "ingest or run something first" in out
