"""The dashboard in a real browser: ``tiktrend dashboard`` over a simulated store, driven in headless chromium.

Screenshots and the measured first meaningful paint are kept under ``$TIKTREND_TEST_ARTIFACTS`` (default: the
test session's temporary directory); the paint is reported, never asserted.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("TIKTREND_TEST_CHROMIUM", "/usr/bin/chromium"))
if not CHROMIUM.exists():
    pytest.skip(f"no chromium at {CHROMIUM} (make test installs Debian's chromium)", allow_module_level=True)
pytest.importorskip("streamlit", reason="the dashboard extra (streamlit) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")

from filled_stores import filled_stores  # noqa: E402
from tiktrend.collect.simulator import SimConfig  # noqa: E402
from tiktrend.pipeline import run_pipeline  # noqa: E402
from tiktrend.settings import Settings  # noqa: E402
from tiktrend.store import open_store  # noqa: E402

pytestmark = pytest.mark.slow

# Streamlit's own exception box, and the words a stack trace or an error message shows.
EXCEPTION_BOX = '[data-testid="stException"]'
ERROR_WORDS = ("Traceback", "Error", "Exception")
LOADING = '[data-testid="stStatusWidget"]'
# The glide data grid Streamlit draws: header and row heights, and where a row's selection box sits.
HEADER_HEIGHT = 35
ROW_HEIGHT = 35
MARKER_X = 15
DATA = {
    "duckdb": "tiktrend run on SimConfig() (the simulator's defaults)",
    "postgres": "tests/filled_stores.py SCENARIO (seed 11, 60 hours, 50 videos per hour)",
}
PLOTS = "() => [...document.querySelectorAll('.js-plotly-plot')].map(d => JSON.stringify(d.data))"


@dataclass
class Dashboard:
    url: str
    store_url: str
    top_trend: str = ""  # the display name of the store's best 1d threshold trend, read before the server starts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tiktrend() -> list[str]:
    script = Path(sys.executable).with_name("tiktrend")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from tiktrend.cli import app; app()"]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots and figures go (kept after the run; the path is printed)."""
    root = os.environ.get("TIKTREND_TEST_ARTIFACTS")
    path = Path(root) / "dashboard" if root else tmp_path_factory.mktemp("dashboard-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard test artefacts: {path}")
    return path


def _start(store_url: str, workdir: Path) -> Iterator[Dashboard]:
    port = _free_port()
    env = {
        **os.environ,
        "TIKTREND_DATABASE_URL": store_url,
        "TIKTREND_DATA_DIR": str(workdir),
        "TIKTREND_REPORTS_DIR": str(workdir / "reports"),
        "HOME": str(workdir),
    }
    log = (workdir / f"dashboard-{port}.log").open("wb")
    process = subprocess.Popen(
        [*_tiktrend(), "dashboard", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the CLI starts streamlit as its child: stop them together
    )
    try:
        _wait_healthy(port, process, workdir / f"dashboard-{port}.log")
        yield Dashboard(url=f"http://127.0.0.1:{port}", store_url=store_url)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def _wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tiktrend dashboard exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the dashboard did not answer within 120 s:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A DuckDB store filled by one ``tiktrend run`` on the simulator's default feed, and its best 1d trend."""
    root = tmp_path_factory.mktemp("dashboard-store")
    url = f"duckdb:///{root / 'tiktrend.duckdb'}"
    store = open_store(url)
    try:
        run_pipeline(store, Settings(data_dir=root, database_url=url), simulation=SimConfig())
        best = store.top_trends(window="1d", detector="threshold", limit=1)
    finally:
        store.close()
    return url, str(best["display"].iloc[0])


@pytest.fixture(scope="module")
def dashboard(filled: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    url, top_trend = filled
    workdir = tmp_path_factory.mktemp("dashboard-run")
    _backtest_report(workdir / "reports" / "sim")
    for running in _start(url, workdir):
        running.top_trend = top_trend
        yield running


@pytest.fixture(scope="module")
def pg_dashboard(tmp_path_factory: pytest.TempPathFactory, pg_database: str) -> Iterator[Dashboard]:
    """The dashboard over PostgreSQL: the shared small scenario (tests/filled_stores.py), a schema of its own."""
    url = filled_stores(tmp_path_factory, pg_database).postgres
    store = open_store(url)
    try:
        top_trend = str(store.top_trends(window="1d", detector="threshold", limit=1)["display"].iloc[0])
    finally:
        store.close()
    for running in _start(url, tmp_path_factory.mktemp("dashboard-run-pg")):
        running.top_trend = top_trend
        yield running


@pytest.fixture(params=["duckdb", "postgres"])
def served(request: pytest.FixtureRequest) -> Dashboard:
    """The dashboard on each backend, for the tests that matter on both (the servers live for the module)."""
    found: Dashboard = request.getfixturevalue("dashboard" if request.param == "duckdb" else "pg_dashboard")
    return found


def _backtest_report(out: Path) -> None:
    """What ``tiktrend backtest --simulate --out`` writes, on a small simulation (two detectors)."""
    from tiktrend.backtest import report
    from tiktrend.backtest.sources import simulation_backtest
    from tiktrend.trends.detectors import make_detector

    config = SimConfig(seed=3, hours=48, videos_per_hour=40, n_trends=3)
    detectors = [make_detector("threshold", "hour"), make_detector("poisson", "hour")]
    result = simulation_backtest(config, out.parent / "work", detectors=detectors)
    report.write_reports(result, out, html_report=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that records every request leaving the machine's loopback."""
    context = browser.new_context(viewport={"width": 1400, "height": 2200})
    opened = context.new_page()
    opened.set_default_timeout(90_000)
    outside: list[str] = []
    opened.on("request", lambda r: outside.append(r.url) if not _local(r.url) else None)
    opened.outside_requests = outside
    yield opened
    context.close()


def _local(url: str) -> bool:
    return url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:"))


def settle(page: Any) -> None:
    """Wait until Streamlit has finished the current rerun (its running indicator is gone)."""
    page.wait_for_timeout(300)
    page.wait_for_function(f"() => !document.querySelector('{LOADING}')", timeout=90_000)
    page.wait_for_timeout(300)


def assert_clean(page: Any, shot: Path) -> None:
    """No exception box and no error text anywhere on the page; a screenshot either way."""
    page.screenshot(path=str(shot), full_page=True)
    assert page.locator(EXCEPTION_BOX).count() == 0, f"Streamlit exception on the page, see {shot}"
    text = page.inner_text("body")
    for word in ERROR_WORDS:
        assert word not in text, f"{word!r} on the page, see {shot}:\n{text[:2000]}"
    assert page.outside_requests == [], "the dashboard reached outside the machine"


def plot_data(page: Any) -> list[Any]:
    return [json.loads(d) for d in page.evaluate(PLOTS)]


def values(array: Any) -> list[Any]:
    """A trace's x or y as a list (plotly sends numeric arrays as base64 typed arrays)."""
    if isinstance(array, dict) and "bdata" in array:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()
    return list(array or [])


def pick(page: Any, label: str, option: str) -> None:
    """Choose an option of the sidebar or main-area select widget whose label is ``label``."""
    widget = page.locator('[data-testid="stMultiSelect"], [data-testid="stSelectbox"]').filter(has_text=label)
    widget.locator("input").first.click()
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")
    settle(page)


def meaningful_paint(page: Any, url: str) -> float:
    """Seconds from navigation until the trending table and its chart are visible."""
    started = time.perf_counter()
    page.goto(url)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible")
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    return time.perf_counter() - started


def test_trending_now_paints_with_sparklines(served: Dashboard, page: Any, artifacts: Path) -> None:
    dashboard = served
    backend = _backend(dashboard)
    first = meaningful_paint(page, dashboard.url)
    settle(page)
    again = meaningful_paint(page, dashboard.url)
    settle(page)
    figures = {
        "first_meaningful_paint_s": round(first, 3),
        "cached_meaningful_paint_s": round(again, 3),
        "load_average_1m": round(os.getloadavg()[0], 2),  # the machine's load, to read the figures against
        "view": "trending",
        "backend": backend,
        "data": DATA[backend],
    }
    name = "first_paint.json" if backend == "duckdb" else f"first_paint_{backend}.json"
    (artifacts / name).write_text(json.dumps(figures) + "\n")
    print(
        f"\ndashboard first meaningful paint ({backend}): {first:.2f} s on a fresh server, {again:.2f} s cached "
        f"(load average {os.getloadavg()[0]:.1f})"
    )
    assert page.get_by_role("heading", name="Trending now").count() >= 1
    bars = plot_data(page)[0]
    shown = [label for trace in bars for label in values(trace["y"])]
    assert dashboard.top_trend in shown
    assert_clean(page, artifacts / f"trending-{backend}.png")


def engagement_charts_after(page: Any, url: str, label: str, value: str, param: str) -> list[Any]:
    """The four engagement charts' data once a filter is chosen, asserting that each of them changed."""
    page.goto(f"{url}/?view=engagement")
    page.locator(".js-plotly-plot").nth(3).wait_for(state="visible")
    settle(page)
    before = plot_data(page)
    pick(page, label, value)
    page.wait_for_function(f"() => window.location.search.includes('{param}={value}')")
    settle(page)
    after = plot_data(page)
    assert len(after) == len(before) == 4
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        assert old != new, f"chart {i} did not change with the {param} filter"
    return after


def test_a_filter_changes_the_charts(served: Dashboard, page: Any, artifacts: Path) -> None:
    dashboard = served
    after = engagement_charts_after(page, dashboard.url, "Regions", "VN", "region")
    # The map colours Vietnam alone once the filter holds it.
    regions = {trace.get("name") for trace in after[1] if trace.get("fill") == "toself" and trace.get("hoveron")}
    assert regions == {"VN"}
    assert_clean(page, artifacts / f"engagement-vn-{_backend(dashboard)}.png")


def test_the_modality_filter_changes_every_engagement_chart(dashboard: Dashboard, page: Any, artifacts: Path) -> None:
    """The region map and the category chart too: their totals count the videos with a chosen modality."""
    engagement_charts_after(page, dashboard.url, "Modalities", "emoji", "modality")
    assert "a chosen modality" in page.inner_text("body")
    assert_clean(page, artifacts / "engagement-emoji.png")


def test_the_keyword_drilldown_opens(served: Dashboard, page: Any, artifacts: Path) -> None:
    page.goto(served.url)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible")
    settle(page)
    page.get_by_role("button", name="Open the drill-down", exact=True).click()
    assert_keyword_view(page, served.top_trend)
    assert_clean(page, artifacts / f"keyword-{_backend(served)}.png")


def test_clicking_a_trending_row_opens_its_keyword(served: Dashboard, page: Any, artifacts: Path) -> None:
    page.goto(served.url)
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for(state="visible")
    settle(page)
    box = table.bounding_box()
    # The first row's selection box: the marker column at the grid's left edge, one header row down.
    page.mouse.click(box["x"] + MARKER_X, box["y"] + HEADER_HEIGHT + ROW_HEIGHT / 2)
    assert_keyword_view(page, served.top_trend)
    assert_clean(page, artifacts / f"keyword-row-click-{_backend(served)}.png")


def assert_keyword_view(page: Any, display: str) -> None:
    """The Keyword view on the best trend: URL, heading, a non-zero series and links to tiktok.com videos."""
    page.get_by_role("heading", name="Keyword", exact=True).wait_for()
    settle(page)
    assert "view=keyword" in page.url and "keyword=" in page.url
    page.get_by_role("heading", name=display, exact=True).wait_for()
    series = plot_data(page)[0]
    assert sum(sum(values(trace["y"])) for trace in series) > 0
    links = page.locator('a[href^="https://www.tiktok.com/@"]')
    links.first.wait_for()
    assert "/video/" in links.first.get_attribute("href")


def _backend(dashboard: Dashboard) -> str:
    return "duckdb" if dashboard.store_url.startswith("duckdb:") else "postgres"


@pytest.mark.parametrize("view", ["regions", "pipeline"])
def test_every_other_view_renders(dashboard: Dashboard, page: Any, artifacts: Path, view: str) -> None:
    page.goto(f"{dashboard.url}/?view={view}")
    page.locator('[data-testid="stMain"] h2').first.wait_for()
    settle(page)
    assert_clean(page, artifacts / f"{view}.png")


@pytest.fixture(params=["missing", "empty"])
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """A store URL whose file does not exist yet, or a store created with its tables and no rows."""
    url = f"duckdb:///{tmp_path / 'first.duckdb'}"
    if request.param == "empty":
        open_store(url).close()
    return str(request.param), url


def test_an_empty_store_shows_the_first_run_message(
    empty_store: tuple[str, str], page: Any, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    kind, url = empty_store
    for running in _start(url, tmp_path_factory.mktemp("dashboard-empty")):
        page.goto(running.url)
        page.get_by_text("The store holds no data yet").wait_for()
        page.locator("code").filter(has_text="tiktrend run").first.wait_for()
        settle(page)
        assert "tiktrend run" in page.inner_text("body")
        assert_clean(page, artifacts / f"first-run-{kind}.png")


def test_the_backtest_view_compares_the_detectors(dashboard: Dashboard, page: Any, artifacts: Path) -> None:
    page.goto(f"{dashboard.url}/?view=backtests")
    page.locator(".js-plotly-plot").first.wait_for(state="visible")
    settle(page)
    bars = plot_data(page)[0]
    assert {x for trace in bars for x in values(trace["x"])} == {"threshold", "poisson"}
    assert_clean(page, artifacts / "backtests.png")


def _hold_for_writing(url: str) -> Any:
    """Open the store read-write, as a pipeline run does, once the dashboard has released the file."""
    from tiktrend.store import StoreError

    deadline = time.monotonic() + 60
    while True:
        try:
            return open_store(url)
        except StoreError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_store_being_written_says_busy_then_reads_again(dashboard: Dashboard, page: Any, artifacts: Path) -> None:
    writer = _hold_for_writing(dashboard.store_url)
    try:
        page.goto(dashboard.url)
        page.get_by_text("being written by another process").wait_for()
        settle(page)
        assert_clean(page, artifacts / "busy.png")
    finally:
        writer.close()
    page.get_by_role("button", name="Retry").click()
    page.locator('[data-testid="stDataFrame"]').first.wait_for(state="visible")
    settle(page)
    assert_clean(page, artifacts / "after-busy.png")
