"""A collection run of a live video source: regions, pages, retries, the raw zone, the store, the checkpoint.

For each region, pages are requested until ``count`` distinct videos were collected, the source says it has
no more, or the feed keeps repeating itself. Every reply is kept in the raw zone before it is parsed; the items
of a page that this run has not seen yet are loaded as one raw-zone batch; repeats are counted and left out
(the reply keeps them). See :mod:`tiktrend.collect.checkpoint` for how a stopped run resumes.

    summary = collect_videos(WebTrending(transport, config), ["US", "DE"], 500, store, settings)
"""

from __future__ import annotations

import gzip
import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson
import pandas as pd

from tiktrend.collect.checkpoint import Checkpoint, CheckpointFile, PendingPage, RegionState
from tiktrend.collect.rawzone import RawZone
from tiktrend.collect.readers import RawRecord, json_kind
from tiktrend.collect.shapes import REPLY_ITEMS
from tiktrend.collect.sources.base import FATAL, Failure, FetchError, Page, Reply, VideoSource
from tiktrend.collect.sources.creative_center import PAGE_SIZE, TREND_COLUMNS, CreativeCenter, TrendList, list_rows
from tiktrend.collect.sources.http import RetryPolicy, with_retries
from tiktrend.interrupts import interrupts_held
from tiktrend.pipeline import IngestReport, ingest_records
from tiktrend.settings import Settings
from tiktrend.store import Store, StoreError

Progress = Callable[[str, int, int], None]  # region, videos collected, target

# What a person can do about a failure that stopped the run.
ADVICE: Mapping[str, str] = {
    Failure.CAPTCHA: "TikTok asks for a verification: use the browser session (--session) or wait, then run again",
    Failure.TOKEN_EXPIRED: "the token expired: set a fresh TIKTREND_TIKTOK_MS_TOKEN (or the API credentials) "
    "and run the same command again to resume",
    Failure.QUOTA: "the daily Research API quota is used up: run the same command again after 00:00 UTC to resume",
    Failure.FORBIDDEN: "the source refused the credentials: check the tokens, cookies or API keys in the settings",
    Failure.BAD_REQUEST: "the source refused the query itself: check the regions, dates and terms",
}


@dataclass
class CollectSummary:
    """What a run did, over all its resumptions: fetched, new, updated, quarantined, failed requests by reason."""

    source: str
    checkpoint: Path
    resumed: bool
    finished: bool
    regions: dict[str, dict[str, Any]]
    totals: dict[str, int]
    failures: dict[str, int]
    stopped: str | None = None  # the failure that stopped the whole run
    advice: str | None = None
    ingest: IngestReport = field(default_factory=IngestReport)


def collect_videos(
    source: VideoSource,
    regions: Sequence[str],
    count: int,
    store: Store,
    settings: Settings,
    *,
    policy: RetryPolicy | None = None,
    checkpoint: CheckpointFile | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    max_stale_pages: int = 3,
    sleep: Callable[[float], None] = time.sleep,
) -> CollectSummary:
    """Collect ``count`` distinct videos per region from ``source``, resuming the run's checkpoint if any."""
    policy = policy or RetryPolicy()
    params = {"regions": list(regions), "count": count, **source.query}
    checkpoint = checkpoint or CheckpointFile(settings.collect_dir, source.name, params)
    run = _Run(source, store, settings, policy, checkpoint, sleep)
    state = run.start(fresh)
    for region in regions:
        if run.stopped is not None:
            break
        run.collect_region(region, state.region(region), count, max_stale_pages, progress)
    state.finished = run.stopped is None and all(state.region(r).done for r in regions)
    checkpoint.save(state)
    return run.summary(regions)


class _Run:
    """One execution of a run (a first start or a resumption)."""

    def __init__(
        self,
        source: VideoSource,
        store: Store,
        settings: Settings,
        policy: RetryPolicy,
        checkpoint: CheckpointFile,
        sleep: Callable[[float], None],
    ) -> None:
        self.source = source
        self.store = store
        self.settings = settings
        self.policy = policy
        self.file = checkpoint
        self.sleep = sleep
        self.zone = RawZone(settings.raw_dir)
        self.report = IngestReport()
        self.stopped: Failure | None = None
        self.state: Checkpoint | None = None
        self._requested = False

    def start(self, fresh: bool) -> Checkpoint:
        state = self.state = self.file.open(fresh=fresh)
        for region in state.regions.values():
            region.stopped = None  # a resumption tries again what stopped early last time
        for page in list(state.pending):  # finished before anything new is asked for
            self._settle(page)
        self.file.save(state)
        return state

    def collect_region(
        self, region: str, state: RegionState, count: int, max_stale: int, progress: Progress | None
    ) -> None:
        if progress is not None:
            progress(region, len(state.seen), count)
        while not state.done and state.stopped is None and self.stopped is None:
            if len(state.seen) >= count:
                state.done = True
                break
            try:
                pending, page = self._fetch(region, state.cursor)
            except FetchError as exc:
                self._failed(state, exc, max_stale)
            else:
                self._sort(pending, page)
                self._load(pending)
            assert self.state is not None
            self.file.save(self.state)
            if progress is not None:
                progress(region, len(state.seen), count)

    def _fetch(self, region: str, cursor: Mapping[str, Any]) -> tuple[PendingPage, Page]:
        """One page, retried as the policy allows; every reply is kept, and written ahead as pending first."""
        assert self.state is not None
        state = self.state

        def attempt() -> tuple[PendingPage, Page]:
            if self._requested and self.policy.pause_s > 0:
                self.sleep(self.policy.pause_s)  # politeness between requests
            self._requested = True
            reply = self.source.request(region, cursor)
            state.totals["requests"] += 1
            path = self.zone.reply_path(self.source.name, reply.body, reply.fetched_at)
            pending = PendingPage(region, str(path), reply.fetched_at.isoformat(), reply.status, dict(cursor))
            state.pending.append(pending)
            self.file.save(state)
            meta = {"region": region, "url": reply.url, "status": reply.status, "cursor": dict(cursor)}
            self.zone.keep_reply(self.source.name, reply.body, reply.fetched_at, meta)
            try:
                return pending, self.source.parse(reply, region, cursor)
            except FetchError:
                state.pending.remove(pending)  # a failed reply: kept in the raw zone, nothing to load
                self.file.save(state)
                raise

        def failed(error: FetchError) -> None:
            state.count_failure(error.failure.value)

        return with_retries(attempt, self.policy, on_failure=failed, recover=self.source.recover, sleep=self.sleep)

    def _failed(self, state: RegionState, error: FetchError, max_stale: int) -> None:
        if error.failure in FATAL:
            self.stopped = error.failure
            state.stopped = error.failure.value
        elif error.failure is Failure.EMPTY_PAGE:
            state.stale_pages += 1
            if state.stale_pages >= max_stale:
                state.stopped = error.failure.value
            else:  # an empty feed often fills again after a while: wait longer each time
                self.sleep(min(self.policy.cap_s, self.policy.base_s * 2**state.stale_pages))
        else:
            state.stopped = error.failure.value  # retries exhausted: the next region may fare better

    def _sort(self, pending: PendingPage, page: Page) -> None:
        """Decide which items of a parsed page are new to this run, and write that ahead."""
        assert self.state is not None
        seen = set(self.state.region(pending.region).seen)
        pending.positions, pending.ids, pending.repeats = [], [], 0
        for position, item in enumerate(page.items):
            video_id = self.source.item_id(item) if isinstance(item, dict) else None
            if video_id is not None and video_id in seen:
                pending.repeats += 1
                continue
            pending.positions.append(position)
            if video_id is not None:
                seen.add(video_id)
                pending.ids.append(video_id)
        pending.cursor, pending.has_more = dict(page.cursor), page.has_more
        self.file.save(self.state)  # a stop from here on loads exactly these items on resume

    def _settle(self, pending: PendingPage) -> None:
        """Finish a reply that a stopped run left pending."""
        assert self.state is not None
        path = Path(pending.reply)
        if pending.positions is None:
            if not path.exists():
                self.state.pending.remove(pending)  # stopped before the reply was kept: it was never fetched
                return
            with gzip.open(path, "rb") as handle:
                body = handle.read()
            reply = Reply(pending.status, {}, body, "", datetime.fromisoformat(pending.fetched_at))
            try:
                page = self.source.parse(reply, pending.region, pending.request_cursor)
            except FetchError as exc:
                self.state.count_failure(exc.failure.value)
                self.state.pending.remove(pending)
                return
            self._sort(pending, page)
        self._load(pending)

    def _load(self, page: PendingPage) -> None:
        """Load a parsed page's new items and move it into its region's state."""
        assert self.state is not None and page.positions is not None
        state = self.state
        region = state.region(page.region)
        positions = page.positions
        records = _records(Path(page.reply), positions, page.region, page.fetched_at, self.source.fmt)
        report = IngestReport()
        if records:
            with interrupts_held():  # a Ctrl-C lands between pages, as a plain KeyboardInterrupt
                ingest_records(
                    records,
                    self.store,
                    self.settings,
                    batch_id=_batch_id(self.source.name, Path(page.reply), page.region, positions),
                    fmt=self.source.fmt,
                    source=self.source.name,
                    origin=Path(page.reply),
                    observed_at=datetime.fromisoformat(page.fetched_at),
                    region=page.region,
                    report=report,
                )
        _merge(self.report, report)
        known = set(region.seen)
        region.seen.extend(i for i in page.ids if i not in known)
        region.cursor = page.cursor
        region.pages += 1
        region.stale_pages = 0 if page.ids else region.stale_pages + 1
        region.done = region.done or not page.has_more
        totals = state.totals
        totals["pages"] += 1
        totals["items"] += len(positions) + page.repeats
        totals["repeats"] += page.repeats
        for key, value in (
            ("new", report.videos_new),
            ("updated", report.videos_updated),
            ("quarantined", report.quarantined),
            ("accepted", report.accepted),
        ):
            totals[key] += value
        state.pending.remove(page)
        self.file.save(state)

    def summary(self, regions: Sequence[str]) -> CollectSummary:
        assert self.state is not None
        state = self.state
        return CollectSummary(
            source=self.source.name,
            checkpoint=self.file.path,
            resumed=state.resumptions > 0,
            finished=state.finished,
            regions={
                r: {
                    "videos": len(state.region(r).seen),
                    "pages": state.region(r).pages,
                    "done": state.region(r).done,
                    "stopped": state.region(r).stopped,
                }
                for r in regions
            },
            totals=dict(state.totals),
            failures=dict(state.failures),
            stopped=self.stopped,
            advice=ADVICE.get(self.stopped) if self.stopped else None,
            ingest=self.report,
        )


def _records(reply: Path, positions: list[int], region: str, fetched_at: str, fmt: str) -> list[RawRecord]:
    """The items at ``positions`` of a kept reply, with where and when they were seen."""
    with gzip.open(reply, "rb") as handle:
        body = orjson.loads(handle.read())
    found = REPLY_ITEMS[fmt](body)
    items: list[Any] = found[0] if found is not None and isinstance(found[0], list) else []
    meta = {"region": region, "observed_at": fetched_at, "reply": reply.name}
    records = []
    for p in positions:
        item = items[p]
        if isinstance(item, dict):
            records.append(RawRecord(p, item, meta={**meta, "index": p}))
        else:  # kept, so that it is quarantined with its reason rather than dropped
            reason = f"not a JSON object: item {p} of the reply is {json_kind(item)}"
            records.append(RawRecord(p, None, orjson.dumps(item).decode()[:2_000], reason))
    return records


def _batch_id(source: str, reply: Path, region: str, positions: list[int]) -> str:
    text = f"{source}:{reply.name}:{region}:{','.join(map(str, positions))}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _merge(total: IngestReport, part: IngestReport) -> None:
    for name in (
        "inputs",
        "read",
        "accepted",
        "quarantined",
        "batches_new",
        "batches_replayed",
        "videos_new",
        "videos_updated",
        "stats_new",
        "mentions_new",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    for reason, n in part.reasons.items():
        total.reasons[reason] = total.reasons.get(reason, 0) + n
    total.batch_ids.extend(part.batch_ids)


# ---- trend lists (Creative Center) ---------------------------------------------------------------------


@runtime_checkable
class TrendListStore(Protocol):
    """A store that keeps external trend lists (DuckDB today; the PostgreSQL backend mirrors the table)."""

    def load_external_trends(self, rows: pd.DataFrame) -> int: ...


def collect_trend_lists(
    source: CreativeCenter,
    lists: Sequence[TrendList],
    count: int,
    store: Store,
    settings: Settings,
    *,
    policy: RetryPolicy | None = None,
    checkpoint: CheckpointFile | None = None,
    fresh: bool = False,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> CollectSummary:
    """Read the first ``count`` entries of each list into ``external_trends``, resuming the run's checkpoint."""
    if not isinstance(store, TrendListStore):
        raise StoreError(f"the store at {store.url} does not keep external trend lists (external_trends)")
    policy = policy or RetryPolicy()
    params = {"lists": [asdict(t) for t in lists], "count": count}
    checkpoint = checkpoint or CheckpointFile(settings.collect_dir, source.name, params)
    state = checkpoint.open(fresh=fresh)
    zone = RawZone(settings.raw_dir)
    stopped: Failure | None = None
    requested = False
    for trend in lists:
        label = f"{trend.kind}/{trend.region}/{trend.period}d" + (f"/{trend.industry}" if trend.industry else "")
        region = state.region(label)
        region.stopped = None
        while stopped is None and not region.done and region.stopped is None:
            if len(region.seen) >= count:
                region.done = True
                break
            if progress is not None:
                progress(label, len(region.seen), count)
            page = int(region.cursor.get("page", 1))

            def attempt(trend: TrendList = trend, page: int = page, label: str = label) -> tuple[Path, Reply, Any]:
                nonlocal requested
                if requested and policy.pause_s > 0:
                    sleep(policy.pause_s)
                requested = True
                reply = source.request(trend, page)
                state.totals["requests"] += 1
                meta = {"list": asdict(trend), "url": reply.url, "status": reply.status, "page": page}
                kept = zone.keep_reply(source.name, reply.body, reply.fetched_at, meta)
                return kept, reply, source.parse(reply, trend)

            def failed(error: FetchError) -> None:
                state.count_failure(error.failure.value)

            try:
                kept, reply, (entries, more) = with_retries(
                    attempt, policy, on_failure=failed, recover=lambda _error: False, sleep=sleep
                )
            except FetchError as exc:
                if exc.failure in FATAL:
                    stopped = exc.failure
                region.stopped = exc.failure.value
                checkpoint.save(state)
                continue
            rows, bad = list_rows(entries, trend, reply.fetched_at, first_rank=(page - 1) * PAGE_SIZE + 1)
            with interrupts_held():
                store.load_external_trends(pd.DataFrame(rows, columns=list(TREND_COLUMNS)))
                _quarantine_entries(store, kept, entries, bad)
            known = set(region.seen)
            new = [r["keyword"] for r in rows if r["keyword"] not in known]
            region.seen.extend(dict.fromkeys(new))
            region.pages += 1
            region.cursor = {"page": page + 1}
            region.done = not more
            totals = state.totals
            totals["pages"] += 1
            totals["items"] += len(entries)
            totals["accepted"] += len(rows)
            totals["new"] += len(new)
            totals["repeats"] += len(rows) - len(new)
            totals["quarantined"] += len(bad)
            checkpoint.save(state)
        if progress is not None:
            progress(label, len(region.seen), count)
    state.finished = stopped is None and all(r.done for r in state.regions.values())
    checkpoint.save(state)
    return CollectSummary(
        source=source.name,
        checkpoint=checkpoint.path,
        resumed=state.resumptions > 0,
        finished=state.finished,
        regions={
            name: {"entries": len(r.seen), "pages": r.pages, "done": r.done, "stopped": r.stopped}
            for name, r in state.regions.items()
        },
        totals=dict(state.totals),
        failures=dict(state.failures),
        stopped=stopped,
        advice=ADVICE.get(stopped) if stopped else None,
    )


def replay_trend_lists(store: Store, settings: Settings) -> int:
    """Load every trend-list reply the raw zone kept into ``external_trends`` again; returns rows loaded."""
    if not isinstance(store, TrendListStore):
        return 0
    zone = RawZone(settings.raw_dir)
    parser = CreativeCenter(_Unused(), settings.creative_center_url)
    loaded = 0
    for kept in zone.replies(parser.name):
        meta = zone.reply_meta(kept)
        if not isinstance(meta.get("list"), dict):
            continue
        trend = TrendList(**meta["list"])
        with gzip.open(kept, "rb") as handle:
            body = handle.read()
        fetched_at = datetime.fromisoformat(meta["fetched_at"])
        try:
            entries, _more = parser.parse(Reply(int(meta["status"]), {}, body, "", fetched_at), trend)
        except FetchError:
            continue  # a failed reply: it held no list
        rows, bad = list_rows(entries, trend, fetched_at, first_rank=(int(meta["page"]) - 1) * PAGE_SIZE + 1)
        loaded += store.load_external_trends(pd.DataFrame(rows, columns=list(TREND_COLUMNS)))
        _quarantine_entries(store, kept, entries, bad)
    return loaded


class _Unused:
    """A transport for parsing kept replies: nothing is sent."""

    def send(self, *args: Any, **kwargs: Any) -> Reply:
        raise FetchError(Failure.API_ERROR, "replaying the raw zone sends no request")

    def cookie(self, name: str) -> str | None:
        return None

    def close(self) -> None:
        return None


def _quarantine_entries(store: Store, kept: Path, entries: list[Any], bad: list[tuple[int, str]]) -> None:
    """List entries that are not trends go to the quarantine table, with the reply they came in."""
    if not bad:
        return
    batch_id = kept.name.removeprefix("page-").removesuffix(".json.gz")
    rows = [
        {
            "batch_id": batch_id,
            "position": position,
            "source": "creative_center",
            "format": "creative-center",
            "reason": reason,
            "excerpt": orjson.dumps(entries[position], default=str).decode()[:2_000],
        }
        for position, reason in bad
    ]
    store.load_quarantine(pd.DataFrame(rows))
