"""Alerts against a real HTTP receiver on 127.0.0.1 (a server in a thread), on real DuckDB and PostgreSQL stores."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from tiktrend.alerts import (
    AlertConfigError,
    AlertRule,
    Webhook,
    candidates,
    deliver,
    evaluate,
    load_rules,
    rules_from_settings,
    run_alerts,
)
from tiktrend.cli import app
from tiktrend.collect.simulator import SimConfig
from tiktrend.pipeline import run_pipeline
from tiktrend.settings import Settings
from tiktrend.store import Store, open_store
from tiktrend.store.plain_sql import execute

SCENARIO = SimConfig(seed=9, hours=60, videos_per_hour=40, n_trends=3)


# ---- the receiver ----------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook on 127.0.0.1 that records what it is sent and answers the planned status codes."""

    answers: list[int] = field(default_factory=list)  # consumed one per request; 200 once empty
    received: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/T000/B000"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = receiver.answers.pop(0) if receiver.answers else 200
                receiver.received.append(
                    {"status": status, "body": body, "id": self.headers.get("X-Tiktrend-Alert-Id")}
                )
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status < 300 else b"invalid_payload")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def delivered(self) -> list[str]:
        """Alert ids the receiver accepted (2xx), in order."""
        return [r["id"] for r in self.received if r["status"] < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


# ---- stores with detected trends --------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def detected(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store of each backend after one pipeline run over a simulated feed (trends detected)."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path_factory.mktemp('alerts') / 'alerts.duckdb'}"
    else:
        import psycopg

        database: str = request.getfixturevalue("pg_database")
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DROP SCHEMA IF EXISTS alerts_test CASCADE; CREATE SCHEMA alerts_test")
        url = f"{database}?options=-csearch_path%3Dalerts_test"
    store = open_store(url)
    run_pipeline(store, Settings(data_dir=tmp_path_factory.mktemp("alerts-data")), simulation=SCENARIO)
    yield store
    store.close()


@pytest.fixture
def store(detected: Store) -> Store:
    """The detected store with no alert recorded yet."""
    execute(detected, "DELETE FROM alerts_sent")
    return detected


RULE = AlertRule(name="growing", window="1d", min_growth=1.0, min_videos=5)


def hook(receiver: Receiver, attempts: int = 3) -> Webhook:
    return Webhook(receiver.url, attempts=attempts, backoff_s=0.01, timeout_s=5)


def alerts_table(store: Store) -> pd.DataFrame:
    return store.snapshot("alerts_sent")


# ---- rules ----------------------------------------------------------------------------------------------------------


def test_rules_come_from_the_variables_and_a_json_or_yaml_file(tmp_path: Path) -> None:
    assert rules_from_settings(Settings(data_dir=tmp_path)) == []
    json_file = tmp_path / "rules.json"
    json_file.write_text(json.dumps({"rules": [{"name": "vn", "region": "VN", "min_score": 3}]}))
    yaml_file = tmp_path / "rules.yaml"
    yaml_file.write_text("- name: sounds\n  modality: music\n  min_engagement: 1000\n")
    settings = Settings(data_dir=tmp_path, alert_min_growth=2.0, alert_window="1h", alert_rules_file=json_file)
    assert rules_from_settings(settings) == [
        AlertRule(name="settings", window="1h", min_growth=2.0),
        AlertRule(name="vn", region="VN", min_score=3),
    ]
    assert load_rules(yaml_file) == [AlertRule(name="sounds", modality="music", min_engagement=1000)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"name": "x", "min_scor": 3}]', r"rule 1 of .*min_scor: Extra inputs are not permitted"),
        ('[{"name": "x", "window": "2d"}]', r"unknown window '2d': expected one of 1h, 1d, 7d"),
        ('{"name": "x"}', "must hold a list of rules"),
        ("[1, 2", "is not valid"),
        ('[{"name": "a"}, {"name": "a"}]', "names must be unique; repeated: a"),
    ],
)
def test_bad_rules_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.json"
    path.write_text(text)
    with pytest.raises(AlertConfigError, match=message):
        rules_from_settings(Settings(data_dir=tmp_path, alert_rules_file=path))


# ---- evaluation -----------------------------------------------------------------------------------------------


def test_a_rule_selects_exactly_the_latest_trends_that_pass_it(store: Store) -> None:
    trends = store.snapshot("trends")
    latest = trends.groupby(["time_window", "detector"])["as_of"].transform("max")
    expected = trends[
        (trends["as_of"] == latest)
        & (trends["time_window"] == "1d")
        & (trends["modality"] == "*")
        & (trends["growth"] >= 1.0)
        & (trends["videos_now"] >= 5)
    ]
    expected_keys = set(expected[["keyword", "region", "category"]].itertuples(index=False, name=None))
    found = candidates(store, RULE)
    assert len(found) > 0
    assert {(c["keyword"], c["region"], c["category"]) for c in found} == expected_keys
    engaged = AlertRule(name="e", window="1d", min_engagement=10**12)
    assert candidates(store, engaged) == []


def test_as_of_picks_the_latest_detection_up_to_that_moment(store: Store) -> None:
    trends = store.snapshot("trends")
    latest = trends["as_of"].max().to_pydatetime()
    assert candidates(store, RULE, as_of=latest + timedelta(hours=5)) == candidates(store, RULE)
    assert candidates(store, RULE, as_of=trends["as_of"].min().to_pydatetime() - timedelta(hours=1)) == []


def test_bad_rules_do_not_fail_the_stage_and_pending_alerts_still_go(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    evaluate(store, [RULE])
    broken = tmp_path / "rules.json"
    broken.write_text('[{"name": "x", "window": "2d"}]')
    settings = Settings(alert_webhook_url=receiver.url, alert_rules_file=broken, alert_backoff_s=0.01)
    report = run_alerts(store, settings)
    assert report.error is not None and "unknown window '2d'" in report.error
    assert report.new == 0 and report.sent == len(receiver.received) > 0


def test_an_alert_is_recorded_once_per_key_however_often_rules_run(store: Store) -> None:
    first = evaluate(store, [RULE])
    assert first.new > 0
    again = evaluate(store, [RULE])
    assert again.new == 0
    table = alerts_table(store)
    assert len(table) == first.new and set(table["status"]) == {"pending"}
    assert not table.duplicated(["rule", "keyword", "region", "category", "time_window", "as_of"]).any()


def later_detection(store: Store, hours: float) -> None:
    """The latest detections again, ``hours`` later: what the next runs write while the trends keep growing."""
    trends = store.snapshot("trends")
    latest = trends[trends["as_of"] == trends.groupby("time_window")["as_of"].transform("max")].copy()
    latest["as_of"] = latest["as_of"] + pd.Timedelta(hours=hours)
    store.save_trends(latest.drop(columns=["run_id"], errors="ignore"), f"later-{hours}")


def test_a_trend_alerts_again_only_after_the_cooldown(store: Store) -> None:
    first = evaluate(store, [RULE])
    assert first.new > 0
    later_detection(store, 1)
    within = evaluate(store, [RULE])  # the same trends an hour later: within the 24 h cooldown
    assert (within.new, within.suppressed) == (0, first.new)
    assert evaluate(store, [RULE.model_copy(update={"cooldown_h": 0})]).new == first.new  # no cooldown: again
    execute(store, "DELETE FROM alerts_sent WHERE as_of > (SELECT min(as_of) FROM alerts_sent)")
    later_detection(store, 25)
    assert evaluate(store, [RULE]).new == first.new  # a day later, still trending: alerted once more


def test_rules_take_the_cooldown_setting_unless_they_set_their_own(tmp_path: Path) -> None:
    path = tmp_path / "rules.json"
    path.write_text(json.dumps([{"name": "own", "cooldown_h": 2}, {"name": "default"}]))
    rules = rules_from_settings(Settings(data_dir=tmp_path, alert_rules_file=path, alert_cooldown_h=6))
    assert {r.name: r.cooldown_h for r in rules} == {"own": 2, "default": 6}


# ---- delivery -----------------------------------------------------------------------------------------------------


def test_alerts_go_to_the_webhook_once_and_a_rerun_sends_nothing(store: Store, receiver: Receiver) -> None:
    report = deliver(store, hook(receiver), report=evaluate(store, [RULE]))
    assert report.sent == report.new > 0 and report.pending == 0 and report.error is None
    assert len(receiver.received) == report.sent
    body = receiver.received[0]["body"]
    assert body["text"].startswith("Trending: ") and "is trending in" in body["text"]
    assert [b["type"] for b in body["blocks"]] == ["section", "context"]
    assert receiver.received[0]["id"] in body["blocks"][1]["elements"][0]["text"]
    table = alerts_table(store)
    assert set(table["status"]) == {"sent"} and table["sent_at"].notna().all() and (table["attempts"] == 1).all()

    rerun = deliver(store, hook(receiver), report=evaluate(store, [RULE]))
    assert (rerun.new, rerun.sent, rerun.pending) == (0, 0, 0)
    assert len(receiver.received) == report.sent  # nothing more arrived


def test_a_receiver_that_is_down_keeps_alerts_pending_until_it_is_back(store: Store, receiver: Receiver) -> None:
    port = receiver.port
    receiver.stop()  # nothing listens on the port now: connections are refused
    down = deliver(store, hook(receiver, attempts=3), report=evaluate(store, [RULE]))
    assert down.new > 0 and down.sent == 0 and down.pending == down.new
    assert down.error is not None and "could not be reached" in down.error and "next run" in down.error
    table = alerts_table(store)
    assert set(table["status"]) == {"pending"}
    tried = table[table["attempts"] > 0]
    assert len(tried) == 1 and tried["attempts"].iloc[0] == 3  # the first alert, retried; the rest wait
    assert "could not be reached" in tried["last_error"].iloc[0]

    back = Receiver(port=port).start()  # the same URL answers again
    try:
        settings = Settings(alert_webhook_url=back.url, alert_backoff_s=0.01)
        up = run_alerts(store, settings, deliver_only=True)  # the next run, or `tiktrend alerts send`
        assert up.sent == down.new and up.pending == 0
        assert sorted(back.delivered()) == sorted(set(back.delivered()))  # each alert once
        assert set(alerts_table(store)["status"]) == {"sent"}
        again = deliver(store, hook(back))
        assert again.sent == 0 and len(back.received) == down.new
    finally:
        back.stop()


def test_a_500_is_retried_and_the_alert_sent_once(store: Store, receiver: Receiver) -> None:
    receiver.answers = [500]
    report = deliver(store, hook(receiver), report=evaluate(store, [RULE]))
    assert report.sent == report.new and report.failed_attempts == 1
    statuses = [r["status"] for r in receiver.received]
    assert statuses[:2] == [500, 200] and statuses.count(500) == 1
    assert receiver.received[0]["id"] == receiver.received[1]["id"]  # the same alert, again
    delivered = receiver.delivered()
    assert len(delivered) == len(set(delivered)) == report.new
    table = alerts_table(store)
    assert sorted(table["attempts"].tolist()) == [1] * (report.new - 1) + [2]


def test_a_refusal_that_retrying_cannot_fix_is_not_retried(store: Store, receiver: Receiver) -> None:
    receiver.answers = [404]
    report = deliver(store, hook(receiver, attempts=4), report=evaluate(store, [RULE]))
    assert report.sent == 0 and report.pending == report.new
    assert report.error is not None and "answered 404" in report.error
    assert len(receiver.received) == 1  # no retry of a 404
    assert set(alerts_table(store)["status"]) == {"pending"}


def test_a_refused_message_stays_pending_and_the_others_still_go(store: Store, receiver: Receiver) -> None:
    receiver.answers = [400]
    report = deliver(store, hook(receiver), report=evaluate(store, [RULE]))
    assert report.new > 1 and report.sent == report.new - 1 and report.pending == 1
    assert report.error is not None and "answered 400" in report.error
    table = alerts_table(store)
    refused = table[table["status"] == "pending"]
    assert len(refused) == 1 and "answered 400" in refused["last_error"].iloc[0]
    again = deliver(store, hook(receiver))  # the receiver takes it now
    assert again.sent == 1 and set(alerts_table(store)["status"]) == {"sent"}


def test_without_a_webhook_alerts_go_to_the_log(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="tiktrend.alerts"):
        report = run_alerts(store, Settings(alert_window="1d", alert_min_growth=1.0))
    assert report.new > 0 and report.logged == report.new
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT ")]
    assert len(logged) == report.new and "is trending in" in logged[0]
    assert set(alerts_table(store)["status"]) == {"logged"}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tiktrend.alerts"):
        assert run_alerts(store, Settings(alert_window="1d", alert_min_growth=1.0)).new == 0
    assert not [r for r in caplog.records if r.getMessage().startswith("ALERT ")]


def test_cli_alerts_run_send_and_test(
    store: Store, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTREND_DATABASE_URL", store.url)
    monkeypatch.setenv("TIKTREND_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["alerts", "run"])
    assert result.exit_code == 2 and "no alert rule is configured" in result.output
    monkeypatch.setenv("TIKTREND_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("TIKTREND_ALERT_WINDOW", "1d")
    monkeypatch.setenv("TIKTREND_ALERT_MIN_GROWTH", "1.0")
    monkeypatch.setenv("TIKTREND_ALERT_BACKOFF_S", "0.01")
    test = runner.invoke(app, ["alerts", "test"])
    assert test.exit_code == 0 and "takes alerts" in test.output
    assert receiver.received[0]["body"]["text"].startswith("tiktrend: test alert")
    result = runner.invoke(app, ["alerts", "run"])
    assert result.exit_code == 0, result.output
    assert "new alert(s)" in result.output and "0 pending" in result.output
    sent = len(receiver.received) - 1
    assert sent > 0 and f"{sent} delivered to the webhook" in result.output
    result = runner.invoke(app, ["alerts", "send"])
    assert result.exit_code == 0 and len(receiver.received) - 1 == sent
