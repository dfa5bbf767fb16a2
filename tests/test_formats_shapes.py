"""TikTok's own shapes: web itemList replies and items, mobile aweme_list, Research API replies, Apify exports,
mapped CSV; JSON documents, JSONL, lists (whole and streamed), gzip, directories."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tiktrend.collect import readers
from tiktrend.collect.formats import FormatError, ImportContext, RawRecord, detect_format, normalize, read_records
from tiktrend.models import RecordError, Video
from tiktrend.pipeline import expand_inputs, ingest, replay
from tiktrend.settings import Settings
from tiktrend.store.duckdb import DuckDBStore

DATA = Path(__file__).parent / "data"
FALLBACK = datetime(2025, 9, 6, tzinfo=UTC)
CTX = ImportContext(fallback_observed_at=FALLBACK)


def outcomes(path: Path, fmt: str, ctx: ImportContext = CTX) -> Iterator[tuple[RawRecord, Video | str]]:
    for raw in read_records(path, fmt):
        if raw.record is None:
            assert raw.error
            yield raw, raw.error
            continue
        try:
            yield raw, normalize(raw.record, fmt, ctx, raw.meta)
        except RecordError as exc:
            yield raw, exc.reason


def videos(path: Path, fmt: str, ctx: ImportContext = CTX) -> list[Video]:
    found = [result for _, result in outcomes(path, fmt, ctx)]
    assert all(isinstance(v, Video) for v in found), found
    return [v for v in found if isinstance(v, Video)]


def web_reply() -> dict[str, Any]:
    reply: dict[str, Any] = json.loads((DATA / "web_item_list.json").read_text(encoding="utf-8"))
    return reply


# ---- detection -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("web_item_list.json", "web"),
        ("tiktokapi_as_dict.jsonl", "web"),
        ("aweme_feed.json", "aweme"),
        ("research_video_query.json", "research"),
        ("apify_export.json", "apify"),
    ],
)
def test_detects_each_shape(name: str, fmt: str) -> None:
    assert detect_format(DATA / name) == fmt


def test_a_reply_that_is_not_a_video_names_every_shape() -> None:
    with pytest.raises(FormatError) as caught:
        detect_format(DATA / "verify.json")
    message = str(caught.value)
    assert "keys code, from, type" in message
    for telltale in ("itemList", "aweme_list", "data: {videos", "createTimeISO", "vid_id", "video_id"):
        assert telltale in message


# ---- web -------------------------------------------------------------------------------------------


def test_web_reply_items_with_the_reply_time() -> None:
    first, second, third = videos(DATA / "web_item_list.json", "web")
    reply_time = datetime(2025, 9, 5, 9, 5, 29, tzinfo=UTC)  # extra.now, in milliseconds
    assert first.observed_at == second.observed_at == third.observed_at == reply_time
    assert first.video_id == "7546151024322100301" and first.source == "web"
    assert first.created_at == datetime(2025, 9, 4, 8, 40, tzinfo=UTC)
    assert (first.views, first.likes, first.comments, first.shares, first.saves) == (1900000, 205700, 1581, 12600, 9463)
    assert first.author == "daniklieber" and first.author_followers == 412300
    assert first.hashtags == ["fyp", "MatchaLatte"]  # the creator's spelling, once
    assert (first.music_id, first.music_title, first.music_original) == (
        "7546151099881234433",
        "original sound - daniklieber",
        True,
    )
    assert first.duration_s == 21.0 and first.language == "de" and first.category == "food & drink"
    assert first.region == "DE"  # locationCreated, when the feed region is not known
    assert first.video_url == "https://www.tiktok.com/@daniklieber/video/7546151024322100301"
    # statsV2 only (digit strings), createTime as a string
    assert (second.views, second.likes, second.saves, second.author_followers) == (12400000, 541200, 88200, 1200000)
    assert second.created_at == datetime(2025, 9, 3, 9, 0, tzinfo=UTC)
    assert second.hashtags == ["xuhuong", "ancungtiktok", "fypシ゚"]
    # missing counters stay missing, never 0
    assert third.shares is None and third.comments == 33 and third.region == "unknown"


def test_feed_region_and_flag_override_what_the_item_says() -> None:
    item = web_reply()["itemList"][0]
    assert normalize(item, "web", CTX, {"region": "US"}).region == "US"
    assert normalize(item, "web", ImportContext(FALLBACK, default_region="fr")).region == "FR"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1756975200, datetime(2025, 9, 4, 8, 40, tzinfo=UTC)),  # seconds
        (1756975200000, datetime(2025, 9, 4, 8, 40, tzinfo=UTC)),  # milliseconds
        ("1756975200", datetime(2025, 9, 4, 8, 40, tzinfo=UTC)),
        (0, None),  # TikTok's "not set"
        (None, None),
    ],
)
def test_web_create_time_seconds_or_milliseconds(value: object, expected: datetime | None) -> None:
    item = {**web_reply()["itemList"][0], "createTime": value, "id": "7"}
    assert normalize(item, "web", CTX).created_at == expected


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stats": {"playCount": "lots"}}, "views is 'lots', not a count"),
        ({"stats": {"diggCount": -3}}, "likes is -3: a count cannot be negative"),
        ({"stats": "1900000"}, "stats is a string, not an object"),
        ({"createTime": "yesterday"}, "createTime is 'yesterday', not a date-time"),
        ({"createTime": 4_102_444_800}, "is after observed_at"),  # 2100-01-01
        ({"desc": "x" * 1_000_000}, "caption has 1000000 characters"),
        ({"id": None}, "missing video id"),
        ({"id": ["7"]}, "video id is ['7'], not a string or number"),
        ({"music": []}, "music is a list, not an object"),
    ],
)
def test_web_item_reasons(change: dict[str, Any], reason: str) -> None:
    item = {**web_reply()["itemList"][0], **change}
    with pytest.raises(RecordError) as caught:
        normalize(item, "web", CTX)
    assert reason in caught.value.reason


def test_a_saved_error_reply_is_named_as_such() -> None:
    verify = json.loads((DATA / "verify.json").read_text())
    with pytest.raises(RecordError, match=r"a reply without items \(code '10000', type 'verify'\)"):
        normalize(verify, "web", CTX)


def test_tiktokapi_as_dict_items_one_per_line() -> None:
    first, second = videos(DATA / "tiktokapi_as_dict.jsonl", "web")
    assert first.observed_at == second.observed_at == FALLBACK  # bare items carry no observation time
    assert second.author == "goodboy.fritz"  # the server-rendered shape writes the author as a string


def test_replies_as_jsonl_list_gzip_and_back_to_back_documents(tmp_path: Path) -> None:
    reply = web_reply()
    later = {**reply, "extra": {"now": 1757066729000}}  # an hour later
    lines = tmp_path / "pages.jsonl"
    lines.write_text(json.dumps(reply) + "\n" + json.dumps(later) + "\n")
    listed = tmp_path / "pages.json"
    listed.write_text(json.dumps([reply, later], indent=2))
    pretty = tmp_path / "pages.txt"
    pretty.write_text(json.dumps(reply, indent=2) + "\n" + json.dumps(later, indent=4))
    packed = tmp_path / "pages.json.gz"
    packed.write_bytes(gzip.compress(listed.read_bytes()))
    for path in (lines, listed, pretty, packed):
        assert detect_format(path) == "web", path
        results = list(outcomes(path, "web"))
        assert [raw.position for raw, _ in results] == list(range(6)), path
        assert [raw.meta["reply"] for raw, _ in results if raw.meta] == [0, 0, 0, 1, 1, 1]
        hours = [v.observed_at.hour for _, v in results if isinstance(v, Video)]
        assert hours == [9, 9, 9, 10, 10, 10], path


def test_reply_items_that_are_not_objects(tmp_path: Path) -> None:
    reply = web_reply()
    path = tmp_path / "odd.jsonl"
    odd = {**reply, "itemList": [reply["itemList"][0], "oops", 7]}
    path.write_text(json.dumps(odd) + "\n" + json.dumps({**reply, "itemList": {"not": "a list"}}) + "\n")
    results = [result for _, result in outcomes(path, "web")]
    assert isinstance(results[0], Video)
    assert results[1:] == [
        "not a JSON object: item 1 of the reply at record 1 is a string",
        "not a JSON object: item 2 of the reply at record 1 is a number",
        "a reply whose item list is an object, not a list (record 2)",
    ]


def test_an_empty_reply_holds_no_record(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps({**web_reply(), "itemList": [], "hasMore": False}))
    assert list(read_records(path, "web")) == []


# ---- aweme, research, apify --------------------------------------------------------------------------


def test_aweme_feed() -> None:
    first, second = videos(DATA / "aweme_feed.json", "aweme")
    assert first.video_id == "7546171639726093124" and first.source == "aweme"
    assert first.observed_at == datetime(2025, 9, 5, 9, 11, 7, tzinfo=UTC)
    assert first.duration_s == 30.543  # the mobile shape counts milliseconds
    assert (first.views, first.likes, first.comments, first.shares, first.saves) == (402000, 18800, 412, 1330, 2210)
    assert first.hashtags == ["döner", "berlin", "foodtok"] and first.region == "DE" and first.language == "de"
    assert first.music_id == "7546171700000000001"  # id_str: the number itself lost digits in JavaScript
    assert first.author_followers == 230500 and first.music_original is True
    assert (second.caption, second.comments, second.duration_s) == ("", None, 12.0)


def test_research_reply_with_speech() -> None:
    first, second = videos(DATA / "research_video_query.json", "research")
    assert first.video_id == "7546151024322100301"  # an int64 in the reply
    assert first.transcript == "okay heute versuchen wir einen schwan aus matcha"
    assert (first.views, first.likes, first.saves, first.region) == (1900000, 205700, 9463, "DE")
    assert first.music_id == "7546151099881234433" and first.hashtags == ["fyp", "matchalatte"]
    assert first.observed_at == FALLBACK  # the reply has no server time
    assert second.comments is None and second.transcript is None


def test_research_subtitles_where_granted() -> None:
    video = {"id": "7546151024322100301", "video_description": "x", "subtitles": [{"text": "hallo"}, "welt"]}
    assert normalize(video, "research", CTX).transcript == "hallo welt"
    with pytest.raises(RecordError, match="transcript"):
        normalize({**video, "voice_to_text": "a" * 300_000}, "research", CTX)


def test_apify_export() -> None:
    first, second = videos(DATA / "apify_export.json", "apify")
    assert first.created_at == datetime(2025, 9, 4, 8, 40, tzinfo=UTC)
    assert (first.views, first.saves, first.author_followers, first.region) == (1900000, 9463, 412300, "DE")
    assert first.video_url == "https://www.tiktok.com/@daniklieber/video/7546151024322100301"
    assert first.hashtags == ["fyp", "matchalatte"] and first.duration_s == 21.0
    assert second.author_followers == 8800  # "8.8K" as exported
    assert second.shares is None and second.music_original is False


# ---- mapped CSV --------------------------------------------------------------------------------------

MAP = {
    "video_id": "video",
    "caption": "text",
    "observed_at": "seen_at",
    "views": "plays",
    "likes": "hearts",
    "hashtags": "tags",
    "author": "creator",
}


def test_mapped_csv() -> None:
    path = DATA / "mapped.csv"
    ctx = ImportContext(FALLBACK, columns=MAP)
    rows = list(read_records(path, "csv", MAP))
    first, second = (normalize(raw.record or {}, "csv", ctx) for raw in rows)
    assert (first.views, first.likes, first.hashtags) == (1_900_000, 205_700, ["fyp", "matchalatte"])
    assert second.observed_at == datetime(2025, 9, 5, 9, 5, 29, tzinfo=UTC)  # Unix seconds in a CSV cell
    assert second.likes == 541_200


def test_mapped_csv_through_the_pipeline_and_replay(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with DuckDBStore(settings.database_url) as store:
        report = ingest([DATA / "mapped.csv"], store, settings, columns=MAP)
        assert report.read == report.accepted == 2
        again = ingest([DATA / "mapped.csv"], store, settings, columns=MAP)
        assert again.batches_replayed == 1
        first = store.snapshot("video_stats")
    rebuilt = Settings(data_dir=settings.data_dir, database_url=f"duckdb:///{tmp_path / 'rebuilt.duckdb'}")
    with DuckDBStore(rebuilt.database_url) as store:
        replayed = replay(store, rebuilt)
        assert replayed.accepted == 2  # the column map was kept with the batch
        assert store.snapshot("video_stats").equals(first)


# ---- directories, streamed lists -----------------------------------------------------------------------


def test_a_directory_of_dumps(tmp_path: Path) -> None:
    folder = tmp_path / "dumps"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.json").write_bytes((DATA / "web_item_list.json").read_bytes())
    (folder / "nested" / "b.jsonl.gz").write_bytes(gzip.compress((DATA / "tiktokapi_as_dict.jsonl").read_bytes()))
    (folder / "notes.txt").write_text("not data")
    found = expand_inputs([folder])
    assert [p.name for p in found] == ["a.json", "b.jsonl.gz"]
    settings = Settings(data_dir=tmp_path / "data")
    with DuckDBStore(settings.database_url) as store:
        report = ingest([folder], store, settings)
        assert (report.inputs, report.read, report.accepted) == (2, 5, 5)
        assert set(store.snapshot("videos")["source"]) == {"web"}


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every JSON list stream, as lists larger than WHOLE_LIST_BYTES do."""
    monkeypatch.setattr(readers, "WHOLE_LIST_BYTES", 0)
    monkeypatch.setattr(readers, "_STREAM_CHUNK", 64)  # and cut values across chunk boundaries


@pytest.mark.usefixtures("streamed")
def test_streamed_list_reads_like_a_loaded_one(tmp_path: Path) -> None:
    items = json.loads((DATA / "apify_export.json").read_text()) * 3
    path = tmp_path / "big.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(items, indent=1, ensure_ascii=False).encode())
    assert [v.video_id for v in videos(path, "apify")] == [i["id"] for i in items]


@pytest.mark.usefixtures("streamed")
def test_streamed_list_reports_what_it_cannot_read(tmp_path: Path) -> None:
    good = json.dumps(json.loads((DATA / "apify_export.json").read_text())[0])
    path = tmp_path / "broken.json"
    path.write_text(f'[{good}, "oops", {{"id": "1", "text": "a\\u0000b"}}, 12345678901234567890, {good}, {{"id": ')
    results = [result for _, result in outcomes(path, "apify")]
    assert isinstance(results[0], Video) and isinstance(results[4], Video)
    assert results[1] == "not a JSON object: item 1 is a string"
    assert results[2] == "NUL character (\\u0000) in item 2"
    assert results[3] == "not a JSON object: item 3 is a number"
    assert isinstance(results[5], str) and results[5].startswith("the file ends inside a JSON value")
    assert len(results) == 6


@pytest.mark.usefixtures("streamed")
def test_streamed_list_with_invalid_utf8_and_garbage(tmp_path: Path) -> None:
    good = json.dumps(json.loads((DATA / "apify_export.json").read_text())[0]).encode()
    bad_bytes = tmp_path / "bytes.json"
    bad_bytes.write_bytes(b"[" + good + b', {"id": "1", "text": "caf\xe9"}]')
    *_, last = outcomes(bad_bytes, "apify")
    assert isinstance(last[1], str) and last[1].startswith("invalid UTF-8 near byte")
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"[" + good + b" ; " + good + b"]")
    *_, last = outcomes(garbage, "apify")
    assert isinstance(last[1], str) and "expected ',' or ']'" in last[1]
