"""``tiktrend export`` and the Tableau workbook over its CSV: columns, values, filters, streaming, both backends."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from filled_stores import Filled, filled_stores
from tiktrend.cli import app
from tiktrend.query import open_reader
from tiktrend.query.export import EXPORT_COLUMNS, ORIGINAL_COLUMNS, ExportFilter, write_export

WORKBOOK = Path(__file__).resolve().parents[1] / "exports" / "tableau" / "tiktrend_keywords.twb"
# The original keywords_clean.csv, in its order.
ORIGINAL = [
    "video_id",
    "keyword",
    "modality",
    "confidence",
    "detected_at",
    "posted_at",
    "region",
    "category",
    "views",
    "likes",
    "comments",
    "shares",
    "engagement_total",
    "engagement_rate",
]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Filled:
    return filled_stores(tmp_path_factory, pg_database)


def export(url: str, out: Path, fmt: str = "csv", chosen: ExportFilter | None = None, rows: int = 50_000) -> int:
    reader = open_reader(url)
    try:
        return write_export(reader, out, fmt, chosen or ExportFilter(), rows=rows)
    finally:
        reader.close()


def test_the_original_columns_come_first(filled: Filled, tmp_path: Path) -> None:
    written = export(filled.duckdb, tmp_path / "k.csv")
    frame = pd.read_csv(tmp_path / "k.csv", dtype={"video_id": str})
    assert list(ORIGINAL_COLUMNS) == ORIGINAL
    assert list(frame.columns) == list(EXPORT_COLUMNS) and list(frame.columns[: len(ORIGINAL)]) == ORIGINAL
    reader = open_reader(filled.duckdb)
    try:
        mentions = reader.read("SELECT count(*) AS n FROM keyword_mentions")["n"].iloc[0]
        videos = reader.read("SELECT * FROM videos").set_index("video_id")
    finally:
        reader.close()
    assert written == len(frame) == mentions
    # Engagement is the video's latest counters; the rates are per view, as in the original.
    parts = frame[["likes", "comments", "shares", "saves"]].fillna(0).sum(axis=1)
    assert (frame["engagement_total"] == parts).all()
    rate = frame["engagement_total"] / frame["views"].where(frame["views"] > 0)
    assert frame["engagement_rate"].to_numpy() == pytest.approx(rate.to_numpy(), nan_ok=True)
    sample = frame.drop_duplicates("video_id").head(50).set_index("video_id")
    assert (sample["views"] == videos.loc[sample.index, "views"]).all()
    assert pd.to_datetime(frame["posted_at"]).is_monotonic_increasing
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", str(frame["detected_at"].iloc[0]))


def test_both_backends_export_the_same_file(filled: Filled, tmp_path: Path) -> None:
    export(filled.duckdb, tmp_path / "duck.csv")
    export(filled.postgres, tmp_path / "pg.csv", rows=7_000)
    assert (tmp_path / "duck.csv").read_bytes() == (tmp_path / "pg.csv").read_bytes()


def test_small_batches_and_parquet_hold_the_same_rows(filled: Filled, tmp_path: Path) -> None:
    export(filled.duckdb, tmp_path / "one.csv")
    export(filled.duckdb, tmp_path / "many.csv", rows=999)  # streamed in many batches
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "many.csv").read_bytes()
    export(filled.duckdb, tmp_path / "k.parquet", "parquet", rows=4_000)
    table = pq.read_table(tmp_path / "k.parquet")
    assert table.column_names == list(EXPORT_COLUMNS)
    as_csv = pd.read_csv(tmp_path / "one.csv")
    assert table.num_rows == len(as_csv)
    assert table.column("keyword").to_pylist() == as_csv["keyword"].astype(str).tolist()


def test_filters(filled: Filled, tmp_path: Path) -> None:
    start, end = pd.Timestamp("2025-01-01"), None
    everything = pd.read_csv(tmp_path / "all.csv") if export(filled.duckdb, tmp_path / "all.csv") else None
    assert everything is not None
    middle = pd.to_datetime(everything["posted_at"]).quantile(0.5)
    chosen = ExportFilter(
        regions=["VN"], modalities=["hashtag", "music"], start=start, end=middle, include_generic=False
    )
    export(filled.duckdb, tmp_path / "some.csv", chosen=chosen)
    some = pd.read_csv(tmp_path / "some.csv")
    assert len(some) > 0 and set(some["region"]) == {"VN"} and set(some["modality"]) <= {"hashtag", "music"}
    assert (pd.to_datetime(some["posted_at"]) < middle).all() and not some["is_generic"].any()
    expected = everything[
        (everything["region"] == "VN")
        & everything["modality"].isin(["hashtag", "music"])
        & (pd.to_datetime(everything["posted_at"]) < middle)
        & ~everything["is_generic"]
    ]
    assert len(some) == len(expected)
    assert end is None


def test_nothing_matched_still_gives_a_header(filled: Filled, tmp_path: Path) -> None:
    assert export(filled.duckdb, tmp_path / "none.csv", chosen=ExportFilter(regions=["ZZ"])) == 0
    assert list(pd.read_csv(tmp_path / "none.csv").columns) == list(EXPORT_COLUMNS)


def test_cli(filled: Filled, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIKTREND_DATABASE_URL", filled.duckdb)
    out = tmp_path / "vn.parquet"
    result = CliRunner().invoke(app, ["export", "--format", "parquet", "--out", str(out), "--region", "VN"])
    assert result.exit_code == 0, result.output
    assert "mention rows written to" in result.output
    assert set(pq.read_table(out).column("region").to_pylist()) == {"VN"}
    bad = CliRunner().invoke(app, ["export", "--format", "xlsx"])
    assert bad.exit_code == 2 and "expected one of csv, parquet" in bad.output
    bad = CliRunner().invoke(app, ["export", "--modality", "smell"])
    assert bad.exit_code == 2 and "unknown modality 'smell'" in bad.output
    monkeypatch.setenv("TIKTREND_DATABASE_URL", f"duckdb:///{tmp_path / 'absent.duckdb'}")
    missing = CliRunner().invoke(app, ["export", "--out", str(tmp_path / "x.csv")])
    assert missing.exit_code == 2 and "tiktrend run" in missing.output


# ---- the Tableau workbook ------------------------------------------------------------------------------------

_FIELD = re.compile(r"\[(?:none|sum|avg|min|max|cnt|ctd|yr|mn|dy):([^:\]]+):[a-z]+\]")
_GENERATED = {"Latitude (generated)", "Longitude (generated)", "Number of Records"}


def test_the_workbook_is_xml_that_opens_the_export() -> None:
    root = ET.parse(WORKBOOK).getroot()
    assert root.tag == "workbook"
    connection = root.find(".//named-connection/connection")
    assert connection is not None and connection.get("class") == "textscan"
    assert connection.get("filename") == "keywords_clean.csv"
    declared = [c.get("name") for c in root.findall(".//relation/columns/column")]
    assert declared == list(EXPORT_COLUMNS)
    sheets = {w.get("name") for w in root.findall("./worksheets/worksheet")}
    assert sheets == {
        "Top keywords by engagement",
        "Engagement rate by region",
        "Virality vs discussion",
        "Engagement by category",
    }


def test_every_field_the_workbook_uses_is_exported() -> None:
    text = WORKBOOK.read_text(encoding="utf-8")
    root = ET.fromstring(text)
    used = set(_FIELD.findall(text))
    for element in root.iter():
        for attribute in ("column", "name"):
            value = element.get(attribute) or ""
            if element.tag in ("column", "column-instance") and value.startswith("["):
                used.add(value.strip("[]") if ":" not in value else _FIELD.findall(value)[0])
    for shelf in root.iter():
        if shelf.tag in ("rows", "cols") and shelf.text:
            for name in re.findall(r"\.\[([^\]]+)\]", shelf.text):
                used.add(_FIELD.findall(f"[{name}]")[0] if ":" in name else name)
    assert used, "the workbook references no field"
    assert used - _GENERATED <= set(EXPORT_COLUMNS), used - _GENERATED - set(EXPORT_COLUMNS)
    assert {"keyword", "modality", "engagement_total", "region", "engagement_rate", "category"} <= used
    assert {"virality_index", "discussion_rate"} <= used
