"""Alerts: rules applied to the ``trends`` table after detection, delivered once to a webhook and to the log.

Each run does two steps, both safe to repeat:

1. :func:`evaluate` finds the trends that pass a rule and records each as a ``pending`` row of ``alerts_sent``,
   keyed on (rule, keyword, region, category, time_window, as_of). A key already there is left alone, so a
   keyword alerts once per rule and detection window, whatever the number of runs. A keyword that alerted
   for the same rule, slice and window less than ``cooldown_h`` hours before (24 by default) is not alerted
   again: a trend flagged by every hourly run says so once a day, not every hour. New alerts are logged.
2. :func:`deliver` posts every pending alert to the webhook (Slack-compatible JSON), with retries and backoff,
   and marks it ``sent`` only after a 2xx answer. A receiver that is down leaves the alert pending: the next
   run sends it. With no webhook configured, alerts are marked ``logged``.

Between a 2xx and the row's update a crash can happen; the alert then stays pending and is posted again on
the next run. Delivery is at least once, never lost: every post carries the alert's stable id (header
``X-Tiktrend-Alert-Id`` and in the message), by which a receiver can drop the rare repeat.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from tiktrend.settings import Settings
from tiktrend.store import ALL, Store
from tiktrend.store.plain_sql import execute, execute_many, fetch
from tiktrend.trends.windows import WINDOWS

log = logging.getLogger(__name__)

KEY = ("rule", "keyword", "region", "category", "time_window", "as_of")
PENDING, SENT, LOGGED = "pending", "sent", "logged"


class AlertRule(BaseModel):
    """Which trends alert: every set filter must hold (None = any value)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    detector: str | None = None
    window: str | None = None
    min_score: float | None = None
    min_growth: float | None = None
    min_engagement: int | None = Field(default=None, ge=0)
    min_videos: int | None = Field(default=None, ge=0)
    region: str | None = None
    category: str | None = None
    modality: str = ALL
    cooldown_h: float = Field(default=24.0, ge=0, description="No new alert for the same trend within this.")

    @field_validator("window")
    @classmethod
    def _known_window(cls, value: str | None) -> str | None:
        if value is not None and value not in WINDOWS:
            raise ValueError(f"unknown window {value!r}: expected one of {', '.join(WINDOWS)}")
        return value


class AlertConfigError(ValueError):
    """Alert rules that cannot be used; the message says which and how to fix them."""


def rules_from_settings(settings: Settings) -> list[AlertRule]:
    """The rule of the ``TIKTREND_ALERT_*`` filters (when any is set) and the rules of the rules file."""
    rules: list[AlertRule] = []
    inline = {
        "detector": settings.alert_detector,
        "window": settings.alert_window,
        "min_score": settings.alert_min_score,
        "min_growth": settings.alert_min_growth,
        "min_engagement": settings.alert_min_engagement,
        "region": settings.alert_region,
        "category": settings.alert_category,
    }
    if any(v is not None for v in inline.values()):
        rules.append(_rule({"name": "settings", **inline}, "the TIKTREND_ALERT_* variables"))
    if settings.alert_rules_file is not None:
        rules.extend(load_rules(settings.alert_rules_file))
    # A rule without its own cooldown takes the setting's.
    rules = [
        r if "cooldown_h" in r.model_fields_set else r.model_copy(update={"cooldown_h": settings.alert_cooldown_h})
        for r in rules
    ]
    names = [r.name for r in rules]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise AlertConfigError(f"alert rule names must be unique; repeated: {', '.join(doubled)}")
    return rules


def load_rules(path: Path) -> list[AlertRule]:
    """Rules from a JSON or YAML file: a list of rules, or ``{"rules": [...]}``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AlertConfigError(f"cannot read the alert rules file {path}: {exc} (TIKTREND_ALERT_RULES_FILE)") from exc
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            yaml: Any = importlib.import_module("yaml")
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ModuleNotFoundError as exc:
        raise AlertConfigError(f"{path} is YAML, which needs PyYAML: pip install pyyaml, or write JSON") from exc
    except ValueError as exc:  # JSON and YAML errors both derive from ValueError
        raise AlertConfigError(f"the alert rules file {path} is not valid: {exc}") from exc
    items = data.get("rules") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise AlertConfigError(f"{path} must hold a list of rules, or an object with a 'rules' list")
    return [_rule(item, f"rule {i + 1} of {path}") for i, item in enumerate(items)]


def _rule(data: object, where: str) -> AlertRule:
    if not isinstance(data, dict):
        raise AlertConfigError(f"{where} must be an object of rule fields, not {type(data).__name__}")
    data = {"name": f"rule-{hashlib.sha1(repr(sorted(data.items())).encode()).hexdigest()[:8]}", **data}
    try:
        return AlertRule.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in exc.errors())
        raise AlertConfigError(f"{where} is not a valid alert rule: {problems}") from exc


# ---- evaluation ------------------------------------------------------------------------------------------------

_ENGAGEMENT = "coalesce(likes, 0) + coalesce(comments, 0) + coalesce(shares, 0) + coalesce(saves, 0)"
_CANDIDATES = f"""
    SELECT keyword, region, category, time_window, as_of, modality, detector, display, score, growth,
           videos_now, coalesce(views, 0) AS views, {_ENGAGEMENT} AS engagement, explanation
    FROM trends t WHERE modality = ?
"""  # noqa: S608 - fixed names only
# Each (window, detector)'s latest detection (at or before a given time): the one a run just made, also when a
# scheduled interval's end and the detection's own as_of differ (the detection looks from its last full hour).
_LATEST = (
    " AND as_of = (SELECT max(as_of) FROM trends l WHERE l.time_window = t.time_window AND l.detector = t.detector"
)
_UP_TO = " AND l.as_of <= ?"
_FILTERS = {
    "detector": " AND detector = ?",
    "window": " AND time_window = ?",
    "region": " AND region = ?",
    "category": " AND category = ?",
    "min_score": " AND score >= ?",
    "min_growth": " AND growth >= ?",
    "min_engagement": f" AND {_ENGAGEMENT} >= ?",
    "min_videos": " AND videos_now >= ?",
}
_CANDIDATE_COLUMNS = (
    "keyword",
    "region",
    "category",
    "time_window",
    "as_of",
    "modality",
    "detector",
    "display",
    "score",
    "growth",
    "videos_now",
    "views",
    "engagement",
    "explanation",
)

_INSERT = f"""
    INSERT INTO alerts_sent ({", ".join(("rule", *_CANDIDATE_COLUMNS, "status", "attempts", "created_at"))})
    VALUES ({", ".join("?" for _ in range(len(_CANDIDATE_COLUMNS) + 4))})
    ON CONFLICT ({", ".join(KEY)}) DO NOTHING
"""  # noqa: S608 - fixed names only


_KNOWN = "SELECT keyword, region, category, time_window, as_of FROM alerts_sent WHERE rule = ? AND as_of >= ?"


def candidates(store: Store, rule: AlertRule, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """The trends a rule selects in the latest detections up to ``as_of`` (one per key: the best score), best first."""
    statement, params = _CANDIDATES, list[Any]([rule.modality])
    statement += _LATEST
    if as_of is not None:
        statement += _UP_TO
        params.append(_naive(as_of))
    statement += ")"
    for name, clause in _FILTERS.items():
        value = getattr(rule, name)
        if value is not None:
            statement += clause
            params.append(value)
    statement += " ORDER BY score DESC, keyword, region, category, time_window, as_of, detector"
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in fetch(store, statement, params):
        found = dict(zip(_CANDIDATE_COLUMNS, row, strict=True))
        best.setdefault(tuple(found[k] for k in KEY[1:]), found)  # rows come best first
    return list(best.values())


@dataclass
class AlertReport:
    """What one evaluation and delivery did."""

    rules: int = 0
    new: int = 0
    suppressed: int = 0  # passed a rule, but the same trend alerted less than the rule's cooldown before
    sent: int = 0
    logged: int = 0
    pending: int = 0
    failed_attempts: int = 0
    error: str | None = None
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, float]:
        """The figures ``pipeline_metrics`` keeps for the ``alerts`` stage."""
        return {
            "alerts_new": self.new,
            "alerts_suppressed": self.suppressed,
            "alerts_sent": self.sent + self.logged,
            "alerts_pending": self.pending,
            "alerts_failed": self.failed_attempts,
        }


def evaluate(
    store: Store, rules: Sequence[AlertRule], *, as_of: datetime | None = None, report: AlertReport | None = None
) -> AlertReport:
    """Record every trend that passes a rule as a pending alert, once per key; log the new ones."""
    report = report or AlertReport()
    report.rules = len(rules)
    now = _naive(datetime.now(tz=UTC))
    for rule in rules:
        found = candidates(store, rule, as_of)
        if not found:
            continue
        cooldown = timedelta(hours=rule.cooldown_h)
        since = min(_naive(f["as_of"]) for f in found) - cooldown
        alerted: dict[tuple[Any, ...], list[datetime]] = {}
        for row in fetch(store, _KNOWN, [rule.name, since]):
            alerted.setdefault(tuple(row[:4]), []).append(_naive(row[4]))
        new = []
        for alert in sorted(found, key=lambda f: _naive(f["as_of"])):
            trend, as_of = tuple(alert[k] for k in KEY[1:-1]), _naive(alert["as_of"])
            earlier = alerted.setdefault(trend, [])
            if as_of in earlier:
                continue  # this very alert is already recorded
            if any(as_of - cooldown < when < as_of for when in earlier):
                report.suppressed += 1
                continue
            earlier.append(as_of)
            new.append(alert)
        rows = []
        for alert in new:
            values = [alert[c] for c in _CANDIDATE_COLUMNS]
            values[_CANDIDATE_COLUMNS.index("as_of")] = _naive(alert["as_of"])
            rows.append([rule.name, *values, PENDING, 0, now])
        # One transaction for the rule's new alerts; the key's ON CONFLICT keeps a concurrent run from doubling one.
        execute_many(store, _INSERT, rows)
        for alert in new:
            log.info("ALERT %s", headline({"rule": rule.name, **alert}))
        report.new += len(new)
    return report


# ---- delivery ----------------------------------------------------------------------------------------------------

_PENDING = f"""
    SELECT {", ".join(("rule", *_CANDIDATE_COLUMNS, "attempts"))} FROM alerts_sent WHERE status = ?
    ORDER BY created_at, score DESC, rule, keyword, region, category, time_window, as_of
"""  # noqa: S608 - fixed names only
_WHERE_KEY = " WHERE " + " AND ".join(f"{k} = ?" for k in KEY)
_SET_DONE = "UPDATE alerts_sent SET status = ?, sent_at = ?, attempts = attempts + ?, last_error = NULL"
_MARK_DONE = _SET_DONE + _WHERE_KEY
_MARK_FAILED = "UPDATE alerts_sent SET attempts = attempts + ?, last_error = ?" + _WHERE_KEY  # noqa: S608


def alert_id(alert: dict[str, Any]) -> str:
    """A stable id of an alert's key, the same on every delivery attempt (receivers may deduplicate on it)."""
    as_of = _naive(alert["as_of"]).isoformat()
    key = "\x1f".join([*(str(alert[k]) for k in KEY[:-1]), as_of])
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def headline(alert: dict[str, Any]) -> str:
    """One line a person reads: what trends, where, how fast."""
    region = "all regions" if alert["region"] == ALL else alert["region"]
    category = "" if alert["category"] == ALL else f" / {alert['category']}"
    return (
        f"{alert['display']} is trending in {region}{category} over the last {alert['time_window']}: "
        f"growth {alert['growth']:+.0%}, score {alert['score']:.1f}, {int(alert['videos_now']):,} videos "
        f"({alert['detector']}, rule {alert['rule']})"
    )


def slack_message(alert: dict[str, Any]) -> dict[str, Any]:
    """The webhook body: Slack's ``text`` (notifications, plain clients) and ``blocks`` (the formatted message)."""
    as_of = _naive(alert["as_of"])
    context = (
        f"detector {alert['detector']} · score {alert['score']:.1f} · growth {alert['growth']:+.0%} · "
        f"{int(alert['videos_now']):,} videos · {int(alert['views']):,} views · "
        f"{int(alert['engagement']):,} likes+comments+shares+saves · as of {as_of:%Y-%m-%d %H:%M} UTC · "
        f"rule {alert['rule']} · alert {alert_id(alert)}"
    )
    return {
        "text": f"Trending: {headline(alert)}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline(alert)}*\n{alert['explanation']}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


# Refusals of this one message (malformed, too large): the next alerts may still go through.
REFUSED_MESSAGE = frozenset({400, 413, 422})


class DeliveryError(RuntimeError):
    """The webhook did not take an alert; ``retry`` says whether trying again may help."""

    def __init__(self, message: str, *, retry: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.status = status
        self.attempts = 1


@dataclass(frozen=True)
class Webhook:
    """Where and how alerts are posted."""

    url: str
    attempts: int = 4
    backoff_s: float = 1.0
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> Webhook | None:
        """The configured webhook, or None when alerts go to the log only."""
        if settings.alert_webhook_url is None or not settings.alert_webhook_url.get_secret_value():
            return None
        return cls(
            settings.alert_webhook_url.get_secret_value(),
            settings.alert_attempts,
            settings.alert_backoff_s,
            settings.alert_timeout_s,
        )


def post(client: httpx.Client, hook: Webhook, alert: dict[str, Any]) -> int:
    """Post one alert, retrying transport errors, 429 and 5xx with exponential backoff; returns attempts made."""
    attempts = 0

    def attempt() -> None:
        nonlocal attempts
        attempts += 1
        try:
            answer = client.post(hook.url, json=slack_message(alert), headers={"X-Tiktrend-Alert-Id": alert_id(alert)})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"the webhook could not be reached: {type(exc).__name__}: {exc}", retry=True) from exc
        if not answer.is_success:
            retry = answer.status_code == 429 or answer.status_code >= 500
            raise DeliveryError(
                f"the webhook answered {answer.status_code}: {answer.text[:200]}",
                retry=retry,
                status=answer.status_code,
            )

    retrying = Retrying(
        stop=stop_after_attempt(hook.attempts),
        wait=wait_exponential(multiplier=hook.backoff_s, max=max(hook.backoff_s, 60.0)),
        retry=retry_if_exception(lambda exc: isinstance(exc, DeliveryError) and exc.retry),
        reraise=True,
    )
    try:
        retrying(attempt)
    except DeliveryError as exc:
        exc.attempts = attempts
        raise
    return attempts


def deliver(store: Store, hook: Webhook | None, *, report: AlertReport | None = None) -> AlertReport:
    """Send every pending alert; stop at the first the receiver cannot take (down, wrong URL): the rest stay pending.

    An alert whose message alone is refused (400, 413, 422) stays pending with its error, and the next ones go.
    """
    report = report or AlertReport()
    pending = [
        dict(zip(("rule", *_CANDIDATE_COLUMNS, "attempts"), r, strict=True)) for r in fetch(store, _PENDING, [PENDING])
    ]
    with httpx.Client(timeout=hook.timeout_s if hook else 10.0) as client:
        for index, alert in enumerate(pending):
            key = [alert[k] for k in KEY]
            if hook is None:
                execute(store, _MARK_DONE, [LOGGED, _naive(datetime.now(tz=UTC)), 0, *key])
                report.logged += 1
                report.alerts.append(alert)
                continue
            try:
                made = post(client, hook, alert)
            except DeliveryError as exc:
                made = exc.attempts
                execute(store, _MARK_FAILED, [made, str(exc)[:500], *key])
                report.failed_attempts += made
                if exc.status in REFUSED_MESSAGE:
                    report.pending += 1
                    refused = f"alert {alert_id(alert)} refused, kept pending: {exc}"
                    report.error = f"{report.error}; {refused}" if report.error else refused
                    log.warning("%s", refused)
                    continue
                report.pending += len(pending) - index
                stopped = f"{exc}; {len(pending) - index} alert(s) stay pending and are sent on the next run"
                report.error = f"{report.error}; {stopped}" if report.error else stopped
                log.warning("alert delivery stopped: %s", report.error)
                break
            execute(store, _MARK_DONE, [SENT, _naive(datetime.now(tz=UTC)), made, *key])
            report.sent += 1
            report.failed_attempts += made - 1
            report.alerts.append(alert)
    return report


def run_alerts(
    store: Store, settings: Settings, *, as_of: datetime | None = None, deliver_only: bool = False
) -> AlertReport:
    """The alerts stage: evaluate the configured rules on the latest trends, then deliver what is pending."""
    report = AlertReport()
    if not deliver_only:
        try:
            rules = rules_from_settings(settings)
        except AlertConfigError as exc:
            # Bad rules must not fail the run that detected the trends: say so, and still deliver what waits.
            log.error("alert rules not applied: %s", exc)
            report.error = f"alert rules not applied: {exc}"
            rules = []
        evaluate(store, rules, as_of=as_of, report=report)
    return deliver(store, Webhook.from_settings(settings), report=report)


def _naive(value: Any) -> datetime:
    moment: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
