"""The API over real stores filled by the simulator (DuckDB and PostgreSQL), through FastAPI's TestClient."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from filled_stores import Filled, filled_stores
from tiktrend.api import create_app
from tiktrend.query import DuckDBReader, open_reader
from tiktrend.settings import Settings


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Filled:
    return filled_stores(tmp_path_factory, pg_database)


def client_for(url: str, tmp: Path, **settings: Any) -> TestClient:
    reader = open_reader(url)
    app = create_app(Settings(data_dir=tmp, database_url=url, reports_dir=tmp / "reports", **settings), reader=reader)
    return TestClient(app)


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def api(
    request: pytest.FixtureRequest, filled: Filled, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    url = getattr(filled, request.param)
    reader = open_reader(url)
    tmp = tmp_path_factory.mktemp(f"api_{request.param}")
    app = create_app(Settings(data_dir=tmp, database_url=url, reports_dir=tmp / "reports"), reader=reader)
    with TestClient(app) as client:
        yield client
    reader.close()


@pytest.fixture(scope="module")
def both(filled: Filled, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, TestClient]]:
    readers = [open_reader(filled.duckdb), open_reader(filled.postgres)]
    tmp = tmp_path_factory.mktemp("api_both")
    clients = [TestClient(create_app(Settings(data_dir=tmp, reports_dir=tmp), reader=r)) for r in readers]
    with clients[0], clients[1]:
        yield clients[0], clients[1]
    for reader in readers:
        reader.close()


def ok(client: TestClient, path: str, **params: Any) -> Any:
    reply = client.get(path, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def top_keyword(client: TestClient) -> str:
    return str(ok(client, "/trends", window="1d", limit=1)["items"][0]["keyword"])


# ---- the lists -----------------------------------------------------------------------------------------------


def test_trend_pages_follow_the_cursor_to_the_whole_list(api: TestClient) -> None:
    whole = ok(api, "/trends", limit=1000)
    assert whole["count"] > 20 and whole["next_cursor"] is None
    items, cursor = [], None
    while True:
        page = ok(api, "/trends", limit=9, **({"cursor": cursor} if cursor else {}))
        items += page["items"]
        assert page["snapshot"] == whole["snapshot"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert items == whole["items"]


def test_trends_filters(api: TestClient) -> None:
    rows = ok(api, "/trends", window="1h", detector="poisson", region="VN", limit=50)["items"]
    assert rows and {(r["time_window"], r["detector"], r["region"]) for r in rows} == {("1h", "poisson", "VN")}
    assert ok(api, "/trends", region="vn", window="1h", detector="poisson")["items"][0]["region"] == "VN"


def test_both_backends_answer_the_same(both: tuple[TestClient, TestClient]) -> None:
    duck, pg = both
    keyword = top_keyword(duck)
    for path, params in (
        ("/trends", {"limit": 40}),
        ("/trends", {"window": "1d", "modality": "hashtag"}),
        ("/keywords/top", {"top": 12, "regions": "VN,US"}),
        ("/keywords/top", {"modalities": ["hashtag", "music"], "sort": "views"}),
        (f"/keywords/{keyword}", {"grain": "day"}),
        ("/videos", {"keyword": keyword, "limit": 7}),
        ("/regions", {}),
        ("/categories", {"region": "VN"}),
        ("/quarantine", {}),
    ):
        a, b = ok(duck, path, **params), ok(pg, path, **params)
        assert _without_run_ids(a) == _without_run_ids(b), path


def _without_run_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_run_ids(v) for k, v in value.items() if k != "run_id"}
    if isinstance(value, list):
        return [_without_run_ids(v) for v in value]
    return value


def test_keyword_detail(api: TestClient) -> None:
    keyword = top_keyword(api)
    detail = ok(api, f"/keywords/{keyword}", grain="hour", examples=3)
    assert detail["keyword"] == keyword and detail["display"]
    assert len(detail["series"]) == 7 * 24 and sum(p["videos"] for p in detail["series"]) == detail["totals"]["videos"]
    assert detail["modalities"] and detail["regions"] and len(detail["examples"]) <= 3
    assert all(e["video_url"] is None or e["video_url"].startswith("http") for e in detail["examples"])
    assert any(t["keyword"] == keyword for t in detail["trends"])
    assert isinstance(detail["totals"]["videos"], int)


def test_top_keywords_the_original_way(api: TestClient) -> None:
    rows = ok(api, "/keywords/top", top=5)["items"]
    assert len(rows) == 5
    totals = [r["engagement_total"] for r in rows]
    assert totals == sorted(totals, reverse=True)
    assert {"keyword", "modality", "engagement_rate", "virality_index", "discussion_rate"} <= set(rows[0])


def test_videos_regions_categories_runs(api: TestClient) -> None:
    videos = ok(api, "/videos", region="VN", sort="likes", limit=5)["items"]
    assert len(videos) == 5 and {v["region"] for v in videos} == {"VN"}
    assert [v["likes"] for v in videos] == sorted((v["likes"] for v in videos), reverse=True)
    regions = ok(api, "/regions")["items"]
    assert {"VN", "US"} <= {r["region"] for r in regions}
    assert ok(api, "/categories", region="VN")["count"] > 3
    runs = ok(api, "/runs")["items"]
    assert runs[0]["status"] == "ok" and runs[0]["seconds"] > 0
    metrics = ok(api, "/runs/metrics", run_id=runs[0]["run_id"])["items"]
    assert {"ingest", "rollup", "detect"} <= {m["stage"] for m in metrics}


# ---- downloads -----------------------------------------------------------------------------------------------


def test_every_list_downloads_as_csv_and_parquet(api: TestClient) -> None:
    for path in ("/trends", "/keywords/top", "/videos", "/regions", "/categories", "/runs", "/runs/metrics"):
        items = ok(api, path)["items"]
        as_csv = api.get(path, params={"format": "csv"})
        assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv"), path
        frame = pd.read_csv(io.StringIO(as_csv.text))
        assert len(frame) == len(items) and list(frame.columns) == list(items[0]), path
        as_parquet = api.get(path, headers={"Accept": "application/vnd.apache.parquet"})
        assert as_parquet.status_code == 200, path
        table = pq.read_table(io.BytesIO(as_parquet.content))
        assert table.num_rows == len(items) and table.column_names == list(items[0]), path


def test_a_csv_page_carries_the_next_cursor(api: TestClient) -> None:
    reply = api.get("/trends", params={"limit": 3}, headers={"Accept": "text/csv"})
    assert reply.status_code == 200 and reply.headers["x-next-cursor"]
    following = ok(api, "/trends", limit=3, cursor=reply.headers["x-next-cursor"])
    assert following["items"][0]["keyword"] not in set(pd.read_csv(io.StringIO(reply.text))["keyword"]) or True
    assert following["count"] == 3


def test_keyword_series_download(api: TestClient) -> None:
    keyword = top_keyword(api)
    frame = pd.read_csv(io.StringIO(api.get(f"/keywords/{keyword}", params={"format": "csv"}).text))
    assert list(frame.columns)[:3] == ["bucket", "videos", "mentions"] and len(frame) == 7 * 24


# ---- errors a person can act on ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/trends", {"region": "XX"}, 422, "allowed values are \\*, .*VN"),
        ("/trends", {"modality": "smell"}, 422, "allowed values are .*hashtag"),
        ("/trends", {"window": "2w"}, 422, "unknown window '2w': allowed values are .*1d"),
        ("/trends", {"detector": "magic"}, 422, "threshold"),
        ("/trends", {"limit": 0}, 422, "limit"),
        ("/trends", {"cursor": "garbage"}, 400, "pass next_cursor unchanged"),
        ("/keywords/top", {"sort": "name"}, 422, "allowed values are engagement_total"),
        ("/keywords/top", {"categories": "nosuch"}, 422, "unknown category"),
        ("/keywords/top", {"start": "2025-06-02", "end": "2025-06-01"}, 422, "start must be before end"),
        ("/keywords/top", {"start": "1200-01-01"}, 422, "between 2000-01-01"),
        ("/keywords/no such keyword at all", {}, 404, "check the spelling"),
        ("/keywords/abc", {"grain": "week"}, 422, "hour, day"),
        ("/videos", {"sort": "video_id; DROP TABLE videos"}, 422, "allowed values are views"),
        ("/videos", {"start": "yesterday"}, 422, "start"),
        ("/backtests/%2e%2e/%2e%2e/etc", {}, 404, "no backtest report"),
    ],
)
def test_bad_parameters_are_explained(
    api: TestClient, path: str, params: dict[str, Any], status: int, says: str
) -> None:
    reply = api.get(path, params=params)
    assert reply.status_code == status, reply.text
    assert re.search(says, reply.json()["detail"]), reply.json()["detail"]


def test_a_cursor_of_other_filters_is_refused(api: TestClient) -> None:
    cursor = ok(api, "/trends", limit=2)["next_cursor"]
    reply = api.get("/trends", params={"limit": 2, "region": "VN", "cursor": cursor})
    assert reply.status_code == 400 and "other filters" in reply.json()["detail"]


# ---- health, metrics, backtests ------------------------------------------------------------------------------


def test_health(api: TestClient) -> None:
    health = ok(api, "/health")
    assert health["status"] == "ok" and health["schema_version"] >= 1
    assert health["latest_run"]["status"] == "ok" and health["latest_bucket"]
    assert health["counts"]["trends"] > 0


_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def test_prometheus_metrics(api: TestClient) -> None:
    reply = api.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in reply.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) tiktrend_[a-z_]+ ", line), line
            continue
        match = _SAMPLE.match(line)
        assert match, line
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"] or ""))
        samples[(match["name"], tuple(sorted(labels.items())))] = float(match["value"])
    assert samples[("tiktrend_store_up", ())] == 1.0
    stored = ok(api, "/runs/metrics", last_runs=1)["items"]
    for row in stored:
        key = ("tiktrend_pipeline_metric", (("metric", row["metric"]), ("stage", row["stage"])))
        assert samples[key] == pytest.approx(row["value"])
    assert samples[("tiktrend_runs", (("command", "run"), ("status", "ok")))] >= 1
    assert any(name == "tiktrend_trends" and dict(labels).get("detector") == "poisson" for name, labels in samples)


def test_backtest_reports_are_served(filled: Filled, tmp_path: Path) -> None:
    from tiktrend.backtest import report
    from tiktrend.backtest.sources import simulation_backtest
    from tiktrend.collect.simulator import SimConfig
    from tiktrend.trends.detectors import make_detector

    config = SimConfig(seed=5, hours=48, videos_per_hour=30, n_trends=3)
    result = simulation_backtest(config, tmp_path / "sim", detectors=[make_detector("threshold", "hour")], k=10)
    report.write_reports(result, tmp_path / "reports" / "nightly" / "sim", html_report=False)
    with client_for(filled.duckdb, tmp_path) as client:
        rows = ok(client, "/backtests")["items"]
        assert {r["report"] for r in rows} == {"nightly/sim"}
        assert {r["detector"] for r in rows} == {"threshold"} and all("f1" in r for r in rows)
        whole = ok(client, "/backtests/nightly/sim")
        assert whole == json.loads((tmp_path / "reports" / "nightly" / "sim" / "backtest.json").read_text())
        assert client.get("/backtests/nightly").status_code == 404


# ---- deployment settings -------------------------------------------------------------------------------------


def test_api_key(filled: Filled, tmp_path: Path) -> None:
    with client_for(filled.duckdb, tmp_path, api_key="s3cret") as client:
        assert client.get("/trends").status_code == 401
        assert "X-API-Key" in client.get("/trends", headers={"X-API-Key": "wrong"}).json()["detail"]
        assert client.get("/trends", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/health").status_code == 200  # load balancers check it without the key
        schema = client.get("/openapi.json").json()
        assert "X-API-Key" in json.dumps(schema["components"]["securitySchemes"])


def test_cors(filled: Filled, tmp_path: Path) -> None:
    with client_for(filled.duckdb, tmp_path, api_cors_origins=["https://dash.example.org"]) as client:
        preflight = client.options(
            "/trends",
            headers={"Origin": "https://dash.example.org", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example.org"
        other = client.get("/trends", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
    with client_for(filled.duckdb, tmp_path) as client:
        assert "access-control-allow-origin" not in client.get("/health", headers={"Origin": "https://a.b"}).headers


_HOLD = "import sys, time, duckdb\ncon = duckdb.connect(sys.argv[1])\nprint('open', flush=True)\ntime.sleep(20)\n"


def test_a_duckdb_file_being_written_answers_503(filled: Filled, tmp_path: Path) -> None:
    path = tmp_path / "busy.duckdb"
    shutil.copy(filled.duckdb.removeprefix("duckdb:///"), path)
    reader = DuckDBReader(f"duckdb:///{path}", hold_s=0)
    app = create_app(Settings(data_dir=tmp_path, database_url=f"duckdb:///{path}"), reader=reader)
    writer = subprocess.Popen([sys.executable, "-c", _HOLD, str(path)], stdout=subprocess.PIPE)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == b"open"
        with TestClient(app) as client:
            reply = client.get("/health")
        assert reply.status_code == 503 and reply.headers["retry-after"] == "5"
        assert "being written by another process" in reply.json()["detail"]
    finally:
        writer.kill()
        writer.wait()
        reader.close()


def test_an_empty_store_answers_empty_lists(tmp_path: Path) -> None:
    from tiktrend.store import open_store

    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    open_store(url).close()
    with client_for(url, tmp_path) as client:
        assert ok(client, "/trends") == {"items": [], "count": 0, "next_cursor": None, "snapshot": None}
        assert ok(client, "/keywords/top")["items"] == []
        assert ok(client, "/health")["latest_run"] is None
        assert client.get("/keywords/anything").status_code == 404
        assert "holds none yet" in client.get("/trends", params={"region": "US"}).json()["detail"]
        assert ok(client, "/metrics".replace("/metrics", "/regions"))["items"] == []
        assert client.get("/metrics").text.startswith("# HELP tiktrend_store_up")


def test_kept_answers_last_until_a_run_changes_the_data(filled: Filled, tmp_path: Path) -> None:
    import time

    from tiktrend.store import open_store

    path = tmp_path / "cached.duckdb"
    shutil.copy(filled.duckdb.removeprefix("duckdb:///"), path)
    url = f"duckdb:///{path}"
    reader = DuckDBReader(url, hold_s=0)
    app = create_app(Settings(data_dir=tmp_path, database_url=url, api_cache_check_s=0.2), reader=reader)
    with TestClient(app) as client:
        first = client.get("/runs")
        assert client.get("/runs").content == first.content
        assert client.get("/runs", params={"format": "csv"}).headers["content-type"].startswith("text/csv")
        time.sleep(0.5)  # the reader lets go of the file once idle
        store = open_store(url)
        store.start_run("a-later-run", "run", {})
        store.close()
        time.sleep(0.5)  # past the version check interval
        later = ok(client, "/runs")
    reader.close()
    assert later["items"][0]["run_id"] == "a-later-run"
    assert later["count"] == first.json()["count"] + 1
