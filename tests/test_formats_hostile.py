"""A corpus of hostile inputs for every importer: each record is loaded or quarantined with a reason, never both,
never neither; the raw zone keeps every one of them; what was loaded is in the store."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiktrend.collect import readers
from tiktrend.collect.formats import ImportContext, normalize, read_records
from tiktrend.collect.rawzone import RawZone
from tiktrend.models import RecordError, Video
from tiktrend.pipeline import ingest_file
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

DATA = Path(__file__).parent / "data"
FALLBACK = datetime(2025, 9, 6, tzinfo=UTC)
FAR_FUTURE = int((datetime.now(tz=UTC) + timedelta(days=3650)).timestamp())
MEGA = "x" * 1_000_000


def web_item(**change: Any) -> dict[str, Any]:
    reply = json.loads((DATA / "web_item_list.json").read_text(encoding="utf-8"))
    item: dict[str, Any] = reply["itemList"][0]
    item.update(change)
    return item


def dumps(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def with_bad_byte(value: object) -> bytes:
    return dumps(value).replace(b"Matcha", b"Matcha\xff", 1)


def with_nul_byte(value: object) -> bytes:
    return dumps(value).replace(b"Matcha", b"Mat\x00cha", 1)


TIKTREND = {
    "video_id": "7546151024322100301",
    "observed_at": "2025-09-05T09:05:29+00:00",
    "caption": "Matcha latte #fyp",
    "hashtags": ["fyp"],
    "views": 10,
    "source": "sim",
}

# (line, expected outcome): None = loaded; text = a fragment of the quarantine reason.
HOSTILE: dict[str, list[tuple[bytes, str | None]]] = {
    "web": [
        (dumps(web_item()), None),
        (b'{"id": "7546151024322100302", "desc": ', "invalid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"null", "not a JSON object"),
        (dumps(web_item(stats={"playCount": [1]})), "views is [1], not a count"),
        (dumps(web_item(stats={"playCount": 10**30})), "too large to be a count"),
        (dumps(web_item(stats={"diggCount": "-4"})), "cannot be negative"),
        (dumps(web_item(id={"a": 1})), "video id is {'a': 1}"),
        (dumps(web_item(id=7.5e18)), "not a string or number"),
        (dumps(web_item(desc=MEGA)), "caption has 1000000 characters"),
        (dumps(web_item(desc=["a"])), "desc is ['a'], not text"),
        (with_bad_byte(web_item()), "invalid UTF-8"),
        (with_nul_byte(web_item()), "NUL byte"),
        (dumps(web_item(desc="a\u0000b")), "NUL character"),
        (dumps(web_item(createTime=FAR_FUTURE)), "is after observed_at"),
        (dumps(web_item(createTime=FAR_FUTURE * 1000)), "is after observed_at"),
        (dumps(web_item(createTime=10**40)), "not a date-time"),
        (dumps(web_item(stats={"playCount": 5})), None),  # the same video again, other counters
        (dumps(web_item(id="7546151024322100303", stats={"playCount": 7})), None),
        (dumps(web_item(id="7546151024322100303", stats={"playCount": 9})), None),  # duplicate id: max kept
        (json.dumps(web_item(desc="Matcha 🍵 \ud800")).encode(), "caption is not valid Unicode"),  # a lone surrogate
        (b"   ", None),  # blank: not a record at all
    ],
    "tiktrend": [
        (dumps(TIKTREND), None),
        (dumps({**TIKTREND, "observed_at": datetime.fromtimestamp(FAR_FUTURE, tz=UTC).isoformat()}), "in the future"),
        (dumps({**TIKTREND, "observed_at": FAR_FUTURE * 1000}), "in the future"),  # milliseconds
        (dumps({**TIKTREND, "caption": MEGA}), "caption has"),
        (dumps({**TIKTREND, "views": "12"}), None),  # a digit string is a count
        (dumps({**TIKTREND, "views": True}), "views is True"),
        (dumps({**TIKTREND, "hashtags": "fyp"}), "hashtags"),
        (with_bad_byte(TIKTREND), "invalid UTF-8"),
        (b"\x00\x01\x02", "NUL byte"),
        (b"{}", "missing video id"),
        (b"\xef\xbb\xbf" + dumps(TIKTREND), "invalid JSON"),  # a BOM in the middle of a file is a broken line
    ],
    "research": [
        (dumps({"id": 7546151024322100301, "video_description": "Matcha", "view_count": 3}), None),
        (dumps({"id": 7546151024322100301, "video_description": "Matcha", "view_count": "3.5"}), "not a count"),
        (dumps({"id": 7546151024322100301, "create_time": FAR_FUTURE, "region_code": "US"}), "is after"),
        (dumps({"id": 7546151024322100301, "voice_to_text": MEGA}), "transcript"),
        (dumps({"id": 7546151024322100301, "hashtag_names": "fyp,viral", "region_code": 5}), "region"),
        (dumps({"data": {"videos": [{"id": 1}, "x"]}, "error": {"code": "ok"}}), "item 1 of the reply"),
    ],
}


def hostile_file(tmp_path: Path, fmt: str, lines: list[bytes], *, gz: bool = False) -> Path:
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / f"{fmt}.jsonl{'.gz' if gz else ''}"
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def outcomes(path: Path, fmt: str) -> dict[int, Video | str]:
    """Each record's position with its Video or reason, read independently of the pipeline."""
    results: dict[int, Video | str] = {}
    ctx = ImportContext(datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC))  # as the pipeline does
    for raw in read_records(path, fmt):
        assert raw.position not in results, f"position {raw.position} read twice"
        if raw.record is None:
            results[raw.position] = raw.error or ""
            continue
        try:
            results[raw.position] = normalize(raw.record, fmt, ctx, raw.meta)
        except RecordError as exc:
            results[raw.position] = exc.reason
    return results


def check_every_record_has_one_outcome(tmp_path: Path, fmt: str, path: Path) -> dict[int, Video | str]:
    found = outcomes(path, fmt)
    settings = Settings(data_dir=tmp_path / "data", chunk_size=4)
    with DuckDBStore(settings.database_url) as store:
        report = ingest_file(path, store, settings, fmt=fmt)
        quarantined = store.snapshot("quarantine")
        stats = store.snapshot("video_stats")
    loaded = {p for p, r in found.items() if isinstance(r, Video)}
    rejected = {p: r for p, r in found.items() if isinstance(r, str)}
    assert report.read == len(found) == report.accepted + report.quarantined
    assert report.accepted == len(loaded) and report.quarantined == len(rejected)
    # quarantined with its reason, each exactly once, and nothing that was loaded
    assert sorted(quarantined["position"]) == sorted(rejected)
    assert all(reason for reason in quarantined["reason"])
    assert dict(zip(quarantined["position"], quarantined["reason"], strict=True)) == rejected
    assert not loaded & set(quarantined["position"])
    # every record kept in the raw zone before anything judged it
    [batch] = RawZone(settings.raw_dir).batches()
    assert sorted(r.position for r in RawZone.replay(batch)) == sorted(found)
    # every loaded observation is in the store
    keys = set(zip(stats["video_id"], stats["observed_at"], strict=True))
    for position in loaded:
        video = found[position]
        assert isinstance(video, Video)
        assert (video.video_id, video.observed_at.replace(tzinfo=None)) in keys
    return found


@pytest.mark.parametrize("fmt", sorted(HOSTILE))
@pytest.mark.parametrize("gz", [False, True])
def test_hostile_corpus(tmp_path: Path, fmt: str, gz: bool) -> None:
    cases = HOSTILE[fmt]
    path = hostile_file(tmp_path, fmt, [line for line, _ in cases], gz=gz)
    found = check_every_record_has_one_outcome(tmp_path, fmt, path)
    expected = [(i, want) for i, (line, want) in enumerate(cases) if line.strip()]
    if fmt == "research":  # the reply on the last line holds two records
        expected = [*expected[:-1], (5, None), (6, "item 1 of the reply")]
    assert sorted(found) == [i for i, _ in expected]
    for position, want in expected:
        result = found[position]
        if want is None:
            assert isinstance(result, Video), (position, result)
        else:
            assert isinstance(result, str) and want in result, (position, result)
            assert len(result) < 300 and "\n" not in result


def test_duplicate_ids_keep_one_video_and_the_larger_counter_of_a_moment(tmp_path: Path) -> None:
    lines = [line for line, _ in HOSTILE["web"]]
    check_every_record_has_one_outcome(tmp_path, "web", hostile_file(tmp_path, "web", lines))
    settings = Settings(data_dir=tmp_path / "data")
    with DuckDBStore(settings.database_url) as store:
        stats = store.snapshot("video_stats").set_index("video_id")
        videos = store.snapshot("videos").set_index("video_id")
    assert stats.loc["7546151024322100303", "views"] == 9  # same id, same moment: the larger counter
    assert stats.loc["7546151024322100301", "views"] == 1_900_000
    assert len(videos) == 2


def test_hostile_list_streamed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "WHOLE_LIST_BYTES", 0)
    items = [web_item(), "text", web_item(desc=MEGA), web_item(stats={"playCount": -1}), web_item(id="75461510")]
    path = tmp_path / "web.json"
    path.write_text(json.dumps(items)[:-40])  # cut off inside the last item
    found = check_every_record_has_one_outcome(tmp_path, "web", path)
    assert [isinstance(found[p], Video) for p in sorted(found)] == [True, False, False, False, False]
    assert str(found[4]).startswith("the file ends inside a JSON value")


@pytest.mark.parametrize("fmt", ["web", "tiktrend", "research"])
def test_json_lines_whose_first_line_is_a_list(tmp_path: Path, fmt: str) -> None:
    # Found by the random mixtures below: the file starts like a JSON list, but more JSON follows it.
    lines = [b"", b"[1, 2]", dumps(web_item()), b"[1, 2]", dumps(web_item(id="7546151024322100302"))]
    found = check_every_record_has_one_outcome(tmp_path, fmt, hostile_file(tmp_path, fmt, lines))
    assert len(found) == 4 and "list" in str(found[min(found)])


# ---- the same, on random mixtures -------------------------------------------------------------------

LINES = [line for cases in HOSTILE.values() for line, _ in cases if len(line) < 10_000]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=25), st.sampled_from(["web", "tiktrend", "research"]))
def test_random_mixtures_keep_the_invariant(
    tmp_path_factory: pytest.TempPathFactory, lines: list[bytes], fmt: str
) -> None:
    tmp_path = tmp_path_factory.mktemp("mix")
    if not any(line.strip() for line in lines):
        lines = [*lines, dumps(web_item())]
    check_every_record_has_one_outcome(tmp_path, fmt, hostile_file(tmp_path, fmt, lines))
