"""File formats: detection, reading (good and broken records), normalizing into Videos, on real samples."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tiktrend.collect.formats import (
    FORMATS,
    FormatError,
    ImportContext,
    RawRecord,
    detect_format,
    normalize,
    read_records,
)
from tiktrend.collect.normalize import parse_count, parse_duration, url_log_time
from tiktrend.models import RecordError, Video, tiktok_id_time

DATA = Path(__file__).parents[2] / "shared" / "data"
SEED = "seed_trending_sample.json"
VN = "vn_videos_2025.csv"
RECRAWL = "vn_videos_recrawl_2025-06-06.csv"
FALLBACK = datetime(2025, 6, 7, 12, 0, tzinfo=UTC)
CTX = ImportContext(fallback_observed_at=FALLBACK)


def shared(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        pytest.skip(f"shared sample {path} is absent (it sits beside the repository, in shared/data)")
    return path


def outcomes(
    path: Path, fmt: str, ctx: ImportContext = CTX, columns: dict[str, str] | None = None
) -> Iterator[tuple[RawRecord, Video | str]]:
    """Each record with its Video or its reason, as the pipeline sees them."""
    for raw in read_records(path, fmt, columns):
        if raw.record is None:
            assert raw.error and raw.text is not None
            yield raw, raw.error
            continue
        assert raw.error is None and raw.text is None
        try:
            yield raw, normalize(raw.record, fmt, ctx)
        except RecordError as exc:
            yield raw, exc.reason


def video_record(**overrides: Any) -> dict[str, Any]:
    """A valid record of the tiktrend shape."""
    record: dict[str, Any] = {
        "video_id": "7506832682593094928",
        "observed_at": "2025-05-29T15:38:41+00:00",
        "region": "VN",
        "category": "food",
        "caption": "ngon quá #food",
        "hashtags": ["food"],
        "views": 541200,
        "likes": 21900,
        "source": "sim",
    }
    record.update(overrides)
    return record


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def dumps(record: object) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


# ---- detection -----------------------------------------------------------------------------------


def test_detects_the_real_samples() -> None:
    assert detect_format(shared(SEED)) == "scraper"
    assert detect_format(shared(VN)) == "csv"
    assert detect_format(shared(RECRAWL)) == "csv"  # starts with a UTF-8 BOM


def test_detects_gzip_by_content_not_name(tmp_path: Path) -> None:
    seed_gz = tmp_path / "seed.data"  # no .gz suffix: the magic bytes decide
    seed_gz.write_bytes(gzip.compress(shared(SEED).read_bytes()))
    csv_gz = tmp_path / "vn.csv.gz"
    csv_gz.write_bytes(gzip.compress(shared(RECRAWL).read_bytes()))
    assert detect_format(seed_gz) == "scraper"
    assert detect_format(csv_gz) == "csv"
    assert sum(1 for _ in read_records(csv_gz, "csv")) == 2409


def test_detects_tiktrend_as_jsonl_gz_and_list(tmp_path: Path) -> None:
    records = [video_record(video_id=str(7506832682593094928 + i)) for i in range(3)]
    jsonl = write_lines(tmp_path / "feed.jsonl", [dumps(r) for r in records])
    gz = tmp_path / "feed.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl.read_bytes()))
    listed = tmp_path / "feed.json"
    listed.write_text(json.dumps(records, indent=2))
    for path in (jsonl, gz, listed):
        assert detect_format(path) == "tiktrend"
        ids = [v.video_id if isinstance(v, Video) else v for _, v in outcomes(path, "tiktrend")]
        assert ids == [r["video_id"] for r in records]


def test_detects_scraper_jsonl(tmp_path: Path) -> None:
    items = json.loads(shared(SEED).read_text(encoding="utf-8"))[:5]
    path = write_lines(tmp_path / "seed.jsonl", [dumps(item) for item in items])
    assert detect_format(path) == "scraper"
    assert all(isinstance(result, Video) for _, result in outcomes(path, "scraper"))


def test_a_broken_first_line_does_not_hide_the_format(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "feed.jsonl", [b'{"video_id": ', dumps(video_record())])
    assert detect_format(path) == "tiktrend"


def test_first_record_beyond_the_first_read_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    path.write_text(json.dumps([video_record(caption="x" * 9_000, padding=["y" * 1_000] * 200)]))
    assert detect_format(path) == "tiktrend"


@pytest.mark.parametrize(
    ("content", "seen"),
    [
        (b"hello world\nsecond line\n", "first line is 'hello world'"),
        (b'{"foo": 1, "bar": 2}\n', "keys foo, bar"),
        (b'{"foo": \n{"bar": \n', "first 2 lines do not parse"),
        (b'{"foo": ', "does not parse in its first 8 bytes"),
        (b"[1, 2, 3]", "a number as the first item"),
        (b"name,age\nann,3\n", "first line is 'name,age'"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary data"),
    ],
)
def test_unknown_shape_names_what_it_saw_and_the_formats(tmp_path: Path, content: bytes, seen: str) -> None:
    path = tmp_path / "mystery.dat"
    path.write_bytes(content)
    with pytest.raises(FormatError) as caught:
        detect_format(path)
    message = str(caught.value)
    assert str(path) in message and seen in message
    for name in FORMATS:
        assert f"{name}:" in message
    assert "video_id" in message and "stats" in message and "vid_id" in message


def test_unknown_format_name_lists_the_formats(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "a.jsonl", [dumps(video_record())])
    with pytest.raises(FormatError, match="tiktrend, scraper, csv"):
        read_records(path, "itemlist")
    with pytest.raises(FormatError, match="tiktrend, scraper, csv"):
        normalize(video_record(), "itemlist", CTX)


@pytest.mark.parametrize("fmt", ["tiktrend", "csv"])
def test_empty_file_is_a_format_error(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b" \n\n")
    with pytest.raises(FormatError, match="empty"):
        detect_format(path)
    with pytest.raises(FormatError, match="empty"):
        read_records(path, fmt)


def test_file_level_errors(tmp_path: Path) -> None:
    broken_list = tmp_path / "broken.json"
    broken_list.write_text('[{"video_id": "1"}, {"video_id": ')
    with pytest.raises(FormatError, match="JSON list that does not parse"):
        read_records(broken_list, "scraper")
    no_columns = tmp_path / "other.csv"
    no_columns.write_text("vid_id,caption\n1,hi\n")
    with pytest.raises(FormatError, match=r"lacks the column.*vid_scrapeTime"):
        read_records(no_columns, "csv")
    truncated = tmp_path / "cut.jsonl.gz"
    truncated.write_bytes(gzip.compress(b"\n".join(dumps(video_record()) for _ in range(2000)))[:-200])
    with pytest.raises(FormatError, match="gzip"):
        list(read_records(truncated, "tiktrend"))


# ---- the scraper sample ---------------------------------------------------------------------------


def url_param(url: str, name: str) -> str:
    return parse_qs(urlsplit(url).query)[name][0]


def test_seed_sample_gives_every_record_valid() -> None:
    path = shared(SEED)
    items = json.loads(path.read_text(encoding="utf-8"))
    results = list(outcomes(path, "scraper"))
    assert len(results) == 3645
    videos = [result for _, result in results]
    assert all(isinstance(v, Video) for v in videos), [v for v in videos if not isinstance(v, Video)][:3]
    assert len({v.video_id for v in videos if isinstance(v, Video)}) == 214
    for item, video in zip(items, videos, strict=True):
        assert isinstance(video, Video)
        assert video.video_id == item["id"] and video.source == "scraper"
        assert video.created_at == tiktok_id_time(item["id"]) is not None
        # The log id's leading digits are the UTC request time; the URL expires two days later.
        logged = datetime.strptime(url_param(item["url"], "l")[:14], "%Y%m%d%H%M%S")
        assert video.observed_at == logged.replace(tzinfo=UTC)
        expire = datetime.fromtimestamp(int(url_param(item["url"], "expire")), tz=UTC)
        assert timedelta(days=2) <= expire - video.observed_at <= timedelta(days=2, minutes=5)
        assert video.views == item["stats"]["playCount"] and video.saves == item["stats"]["collectCount"]
        assert video.likes == item["stats"]["diggCount"] and video.music_title == (
            item["music"]["title"].strip() or None
        )
        assert video.region == item["region"] and video.author == item["username"]
    assert {v.region for v in videos if isinstance(v, Video)} >= {"US", "UKIT"}  # UKIT kept as given


def test_seed_hashtags_come_from_the_caption() -> None:
    item = next(i for i in json.loads(shared(SEED).read_text(encoding="utf-8")) if "#zahide " in i["caption"])
    video = normalize(item, "scraper", CTX)
    assert video.hashtags[:3] == ["zahide", "zahideremix", "zahidediditbetter"]
    assert normalize({**item, "caption": "#fypシ゚ #viralvideo🔥, #cat. @x #a#b"}, "scraper", CTX).hashtags == [
        "fypシ゚",
        "viralvideo🔥",
        "cat",
        "a",
        "b",
    ]


def test_scraper_without_log_id_uses_the_fallback() -> None:
    record = {"id": "7541035053569051926", "url": "https://example.com/v.mp4", "caption": "", "stats": {}}
    later = ImportContext(fallback_observed_at=datetime(2025, 10, 1, tzinfo=UTC))
    assert normalize(record, "scraper", later).observed_at == later.fallback_observed_at
    inconsistent = {**record, "url": "https://x/?expire=1657235939&l=20250905090529ABC"}
    assert normalize(inconsistent, "scraper", later).observed_at == later.fallback_observed_at


# ---- the VN CSVs -----------------------------------------------------------------------------------


def raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_vn_csv_gives_every_row_valid_with_counts_parsed() -> None:
    path = shared(VN)
    ctx = ImportContext(fallback_observed_at=FALLBACK, default_region="VN")
    results = list(outcomes(path, "csv", ctx))
    assert len(results) == 10_102
    videos = {v.video_id: v for _, v in results if isinstance(v, Video)}
    assert len(videos) == 10_102
    rows = {row["vid_id"]: row for row in raw_rows(path)}
    first, second = videos["7506832682593094928"], videos["7507991840340135186"]
    assert rows[first.video_id]["vid_nview"] == "541.2K" and first.views == 541_200
    assert rows[first.video_id]["vid_nlike"] == "21.9K" and first.likes == 21_900
    assert rows[first.video_id]["user_nfollower"] == "304.9K" and first.author_followers == 304_900
    assert (first.comments, first.shares, first.saves, first.duration_s) == (454, 742, 1098, 31.0)
    assert rows[second.video_id]["vid_nview"] == "1.4M" and second.views == 1_400_000
    assert second.shares == 10_200 and second.duration_s == 65.0
    assert second.hashtags == ["suckhoe", "thaomoc", "thaoduoc", "dongy", "ongsaucayco"]
    assert first.observed_at == datetime(2025, 5, 29, 15, 38, 41, tzinfo=UTC)
    assert first.region == "VN" and first.source == "csv" and first.music_original is True
    assert first.music_id is None  # the float-rounded id is dropped, see normalize.parse_music_id
    for video in videos.values():
        assert video.created_at == tiktok_id_time(video.video_id)  # vid_postTime is UTC
        row = rows[video.video_id]
        assert video.caption == row["vid_caption"].strip()
        if row["vid_ncomment"] == "":
            assert video.comments is None


def test_vn_csv_region_defaults_to_unknown() -> None:
    _, video = next(outcomes(shared(VN), "csv"))
    assert isinstance(video, Video) and video.region == "unknown"


def test_recrawl_csv_with_bom_and_reordered_columns() -> None:
    path = shared(RECRAWL)
    results = list(outcomes(path, "csv"))
    assert len(results) == 2409
    raw, first = results[0]
    assert raw.record is not None and "user_name" in raw.record  # the BOM is not part of the first column
    assert isinstance(first, Video)
    assert first.observed_at == datetime(2025, 6, 6, 10, 16, 49, tzinfo=UTC)
    assert first.created_at == datetime(2025, 5, 21, 9, 44, 45, tzinfo=UTC)
    reasons = [result for _, result in results if isinstance(result, str)]
    # One row of a video that had become unavailable: the scraper read the button label as the count.
    assert reasons == ["shares is 'Share', not a count"]


def test_csv_column_map(tmp_path: Path) -> None:
    path = tmp_path / "mapped.csv"
    path.write_text("id,text,seen,plays\n7506832682593094928,hi #x,2025-05-29T10:00:00Z,1.5K\n")
    columns = {"video_id": "id", "caption": "text", "observed_at": "seen", "views": "plays"}
    ctx = ImportContext(fallback_observed_at=FALLBACK, columns=columns)
    [raw] = list(read_records(path, "csv", columns))
    assert raw.record is not None
    video = normalize(raw.record, "csv", ctx)
    assert (video.caption, video.views, video.observed_at.hour) == ("hi #x", 1500, 10)
    with pytest.raises(FormatError, match=r"unknown field.*captoin"):
        read_records(path, "csv", {"video_id": "id", "captoin": "text"})


# ---- broken records ------------------------------------------------------------------------------

FUTURE = (datetime.now(tz=UTC) + timedelta(days=3650)).isoformat()
MIXED: list[tuple[bytes, str | None]] = [
    (dumps(video_record()), None),
    (b'{"video_id": "1", "observed_at": ', "invalid JSON at line 2"),
    (b"[1, 2, 3]", "not a JSON object"),
    (b"42", "not a JSON object"),
    (dumps(video_record(video_id=None)), "missing video id"),
    (dumps({k: v for k, v in video_record().items() if k != "video_id"}), "missing video id"),
    (dumps(video_record(views=-5)), "views is -5: a count cannot be negative"),
    (dumps(video_record(likes="abc")), "likes is 'abc', not a count"),
    (
        dumps(video_record(video_id="7506832682593094929")).replace(b"food", b"fo\x00od", 1),
        "NUL byte at line 9",
    ),
    (dumps(video_record(caption="caf\\u0000e")), "NUL character"),
    (dumps(video_record(caption="café")).replace("é".encode(), b"\xe9"), "invalid UTF-8 at line 11"),
    (dumps(video_record(caption="x" * 20_000)), "caption has 20000 characters"),
    (dumps(video_record(observed_at=FUTURE)), "is in the future"),
    (dumps(video_record(colour="red")), "unknown field 'colour'"),
    (dumps(video_record(video_id="not an id!")), "video_id must be"),
    (b"", None),  # a blank line is not a record
    (dumps(video_record(video_id="7506832682593094930", observed_at=None, region=None)), None),
]


def test_mixed_file_gives_every_record_one_outcome(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "mixed.jsonl", [line for line, _ in MIXED])
    results = list(outcomes(path, "tiktrend", ImportContext(FALLBACK, default_region="VN")))
    expected = [(i, want) for i, (line, want) in enumerate(MIXED) if line]
    assert [raw.position for raw, _ in results] == [i for i, _ in expected]  # 0-based line numbers
    for (raw, result), (_, want) in zip(results, expected, strict=True):
        if want is None:
            assert isinstance(result, Video), (raw.position, result)
        else:
            assert isinstance(result, str) and want in result, (raw.position, result)
            assert "\n" not in result and len(result) < 200 and "errors.pydantic.dev" not in result
    last = results[-1][1]
    assert isinstance(last, Video) and last.observed_at == FALLBACK and last.region == "VN"


def test_undecodable_text_is_kept_replaced_and_clipped(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [b"\xff" + b"x" * 5_000])
    [raw] = list(read_records(path, "tiktrend"))
    assert raw.record is None and raw.error is not None and raw.text is not None
    assert raw.text.startswith("\ufffd") and len(raw.text) == 2_000


def test_json_list_items_that_are_not_objects(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text(json.dumps([video_record(), "oops", None, video_record(caption="a\u0000b")]))
    results = list(outcomes(path, "tiktrend"))
    assert isinstance(results[0][1], Video)
    assert [r for _, r in results[1:]] == [
        "not a JSON object: item 1 is a string",
        "not a JSON object: item 2 is null",
        "NUL character (\\u0000) in item 3 of the list",
    ]
    assert results[1][0].text == '"oops"'


def test_mixed_csv_rows(tmp_path: Path) -> None:
    columns = {
        "video_id": "vid_id",
        "observed_at": "vid_scrapeTime",
        "views": "vid_nview",
        "caption": "vid_caption",
    }
    lines: list[tuple[bytes, int | str]] = [
        (b"vid_id,vid_scrapeTime,vid_nview,vid_caption", 0),
        (b"7506832682593094928,2025-05-29 15:38:41,541.2K,ok", 541_200),
        (b"7506832682593094928,2025-05-29 15:38:41,12abc,bad count", "views is '12abc', not a count"),
        (b"7506832682593094928,2025-05-29 15:38:41,5", "has 3 fields, the header has 4"),
        (b"7506832682593094928,2025-05-29 15:38:41,5,nul \x00 here", "NUL byte"),
        (b"7506832682593094928,2025-05-29 15:38:41,5,caf\xe9", "invalid UTF-8"),
        (b",2025-05-29 15:38:41,5,no id", "missing video id"),
        (b"7506832682593094928,yesterday,5,bad time", "observed_at is 'yesterday', not a date-time"),
        (b'7506832682593094928,2025-05-29 15:38:41,7,"two\nlines"', 7),
    ]
    path = write_lines(tmp_path / "mixed.csv", [line for line, _ in lines])
    ctx = ImportContext(FALLBACK, columns=columns)
    results = list(outcomes(path, "csv", ctx, columns))
    assert [raw.position for raw, _ in results] == list(range(len(lines) - 1))
    for (raw, result), (_, want) in zip(results, lines[1:], strict=True):
        if isinstance(want, int):
            assert isinstance(result, Video) and result.views == want, (raw.position, result)
        else:
            assert isinstance(result, str) and want in result, (raw.position, result)
    assert results[-1][0].record == {
        "vid_id": "7506832682593094928",
        "vid_scrapeTime": "2025-05-29 15:38:41",
        "vid_nview": "7",
        "vid_caption": "two\nlines",
    }


def test_not_a_dict_is_a_record_error() -> None:
    with pytest.raises(RecordError, match="not a JSON object"):
        normalize([1, 2], "tiktrend", CTX)  # type: ignore[arg-type]


def test_tiktrend_round_trip(tmp_path: Path) -> None:
    original = Video.model_validate(
        video_record(created_at="2025-05-21T09:44:45Z", music_original=False, duration_s=31.0, author_followers=3)
    )
    path = write_lines(tmp_path / "rt.jsonl", [original.model_dump_json().encode()])
    [(_, again)] = list(outcomes(path, "tiktrend"))
    assert again == original and isinstance(again, Video) and again.source == "sim"


# ---- value parsers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("541.2K", 541_200),
        ("1.4M", 1_400_000),
        ("2B", 2_000_000_000),
        ("1,234", 1_234),
        ("1,234,567", 1_234_567),
        ("454", 454),
        ("30K", 30_000),
        (" 12 ", 12),
        ("", None),
        (None, None),
        (1_900_000, 1_900_000),
        (12.0, 12),
    ],
)
def test_parse_count(text: object, count: int | None) -> None:
    assert parse_count(text, "views") == count


@pytest.mark.parametrize("text", ["abc", "1.5", "1,23", "-5", "K", "1.2.3K", "²", True, 1.5, [], 10**30, "9" * 30])
def test_parse_count_refuses(text: object) -> None:
    with pytest.raises(RecordError, match=r"^views is "):
        parse_count(text, "views")


@pytest.mark.parametrize(("text", "seconds"), [("00:31", 31.0), ("01:05", 65.0), ("1:02:03", 3723.0), ("90", 90.0)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "duration_s") == seconds


@pytest.mark.parametrize("text", ["00:61", "-1", "a:b", "1:2:3:4", "nan"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(RecordError, match="not a duration"):
        parse_duration(text, "duration_s")


def test_url_log_time() -> None:
    url = "https://v16.tiktok.com/video/?a=1&expire=1757235939&l=202509050905294A9263025BEAD4082C6D&ply_type=2"
    assert url_log_time(url) == datetime(2025, 9, 5, 9, 5, 29, tzinfo=UTC)
    assert url_log_time("https://x/?l=20251399999999") is None
    assert url_log_time("https://x/?xl=20250905090529") is None
    assert url_log_time(None) is None


# ---- anything thrown at a normalizer ends as a Video or a RecordError ----------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=6,
)
SHAPES = {
    "tiktrend": video_record(),
    "scraper": {
        "id": "7541035053569051926",
        "url": "u",
        "caption": "c",
        "username": "a",
        "music": {},
        "stats": {},
    },
    "csv": {"vid_id": "7506832682593094928", "vid_scrapeTime": "2025-05-29 15:38:41", "vid_nview": "1K"},
    "web": {
        "id": "7546151024322100301",
        "desc": "d #x",
        "createTime": 1756975200,
        "author": {"uniqueId": "a"},
        "stats": {"playCount": 5},
        "statsV2": {"diggCount": "3"},
        "music": {"id": "1", "original": True},
        "challenges": [{"title": "x"}],
        "video": {"duration": 9},
    },
    "aweme": {
        "aweme_id": "7546171639726093124",
        "desc": "d",
        "create_time": 1756980000,
        "author": {"unique_id": "a"},
        "statistics": {"play_count": 5},
        "cha_list": [{"cha_name": "x"}],
        "video": {"duration": 12000},
    },
    "research": {
        "id": 7546151024322100301,
        "video_description": "d",
        "create_time": 1756975200,
        "region_code": "DE",
        "view_count": 5,
        "hashtag_names": ["x"],
        "voice_to_text": "hi",
    },
    "apify": {
        "id": "7546151024322100301",
        "text": "d",
        "createTimeISO": "2025-09-04T08:40:00.000Z",
        "authorMeta": {"name": "a", "fans": 3},
        "musicMeta": {"musicName": "m"},
        "playCount": 5,
        "hashtags": [{"name": "x"}],
    },
}


@settings(max_examples=300, deadline=None)
@given(fmt=st.sampled_from(FORMATS), key=st.text(max_size=12), value=JSON_VALUES, data=st.data())
def test_normalizers_only_raise_record_errors(fmt: str, key: str, value: object, data: st.DataObject) -> None:
    record = dict(SHAPES[fmt])
    key = data.draw(st.sampled_from([*record, key]))
    record[key] = value
    try:
        normalize(record, fmt, CTX)
    except RecordError as exc:
        assert exc.reason and "\n" not in exc.reason
