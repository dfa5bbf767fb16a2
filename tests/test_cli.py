"""The CLI as a person uses it: real commands on a real data directory, and errors that say what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tiktrend.cli import app


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str]]:
    monkeypatch.setenv("TIKTREND_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TIKTREND_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "160")
    runner = CliRunner()

    def invoke(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output

    return invoke


def test_run_simulates_and_prints_a_ranking_then_trends_reads_it(cli: Callable[..., tuple[int, str]]) -> None:
    code, out = cli("run", "--sim-hours", "72", "--sim-rate", "120", "--sim-seed", "3")
    assert code == 0, out
    assert "Trending now (poisson" in out
    assert "Baseline (threshold rule)" in out
    assert "planted trends in the poisson top 20" in out
    assert "planted trends in the threshold top 20" in out
    assert "0 quarantined" in out
    code, out = cli("trends", "--window", "1d", "--limit", "5")
    assert code == 0, out
    assert "Top 5 trends over the last 1d" in out
    code, out = cli("trends", "--window", "1d", "--region", "ZZ")
    assert code == 0 and "No trends stored" in out


def test_simulate_writes_feed_and_truth(cli: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    code, out = cli("simulate", "--hours", "48", "--seed", "2", "--trends", "2", "--out", str(tmp_path / "sim"))
    assert code == 0, out
    assert (tmp_path / "sim" / "feed-2.jsonl.gz").exists()
    assert (tmp_path / "sim" / "ground_truth-2.csv").read_text(encoding="utf-8").startswith("keyword,")


def test_ingest_reports_counts(cli: Callable[..., tuple[int, str]], shared_file: Callable[[str], Path]) -> None:
    code, out = cli("ingest", str(shared_file("seed_trending_sample.json")))
    assert code == 0, out
    assert "read 3,645 records" in out
    assert "214 new" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ingest", "no/such/file.json"), "no such file or directory"),
        (("ingest", "--format", "xml", "x.json"), "unknown format 'xml'"),
        (("trends", "--window", "2w"), "unknown window '2w'"),
        (("trends", "--modality", "smell"), "unknown modality 'smell'"),
    ],
)
def test_mistakes_get_one_clear_line_and_exit_2(
    cli: Callable[..., tuple[int, str]], args: tuple[str, ...], message: str
) -> None:
    code, out = cli(*args)
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_unknown_file_shape_names_the_expected_formats(cli: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": "world"}\n', encoding="utf-8")
    code, out = cli("ingest", str(odd))
    assert code == 2
    assert "tiktrend" in out and "scraper" in out and "csv" in out


def test_unopenable_store_says_what_to_do(
    cli: Callable[..., tuple[int, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be", encoding="utf-8")
    monkeypatch.setenv("TIKTREND_DATABASE_URL", f"duckdb:///{blocker}/db/x.duckdb")
    code, out = cli("trends")
    assert code == 2
    assert "cannot open the DuckDB store" in out and "TIKTREND_DATABASE_URL" in out
