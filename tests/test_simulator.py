"""The feed simulator: deterministic, valid Video records, a realistic shape, trends where the truth says."""

from __future__ import annotations

import csv
import gzip
import json
import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tiktrend.collect.simulator import (
    GENERIC_TAGS,
    PlantedTrend,
    SimConfig,
    background_vocabulary,
    planted_trends,
    simulate,
    write_simulation,
)
from tiktrend.models import COUNTERS, VIDEO_COLUMNS, Video, tiktok_id_time

# Small enough to be quick, long and busy enough for trends and cycles to show.
CONFIG = SimConfig(seed=11, hours=72, videos_per_hour=200)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return list(simulate(CONFIG))


@pytest.fixture(scope="module")
def videos(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per video (its first observation)."""
    first: dict[str, dict[str, Any]] = {}
    for record in records:
        first.setdefault(record["video_id"], record)
    return list(first.values())


def _carries(video: dict[str, Any], trend: PlantedTrend) -> bool:
    if trend.kind == "sound":
        return bool(video["music_title"] == trend.display)
    return trend.keyword in {tag.lower() for tag in video["hashtags"]}


def _created(video: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(video["created_at"])


def test_same_config_writes_same_bytes(tmp_path: Path) -> None:
    config = SimConfig(seed=3, hours=48, videos_per_hour=40)
    first = write_simulation(config, tmp_path / "a")
    second = write_simulation(config, tmp_path / "b")
    assert first.feed_path.name == "feed-3.jsonl.gz"
    assert first.feed_path.read_bytes() == second.feed_path.read_bytes()
    assert first.truth_path.read_bytes() == second.truth_path.read_bytes()
    other = write_simulation(SimConfig(seed=4, hours=48, videos_per_hour=40), tmp_path / "c")
    assert other.feed_path.read_bytes() != first.feed_path.read_bytes()


def test_written_feed_matches_simulate_and_counts(tmp_path: Path) -> None:
    config = SimConfig(seed=5, hours=48, videos_per_hour=40)
    out = write_simulation(config, tmp_path)
    with gzip.open(out.feed_path, "rt", encoding="utf-8") as handle:
        lines = [json.loads(line) for line in handle]
    assert lines == list(simulate(config))
    assert out.records == len(lines)
    assert out.videos == len({line["video_id"] for line in lines})
    assert any("ệ" in line["caption"] or "đ" in line["caption"] for line in lines)  # stored unescaped


def test_every_record_is_a_valid_video(records: list[dict[str, Any]]) -> None:
    assert 15_000 < len(records) < 60_000
    for record in records:
        assert tuple(record) == VIDEO_COLUMNS
        video = Video.model_validate(record)
        assert video.source == "simulator"
        # The id encodes the creation time, as TikTok's do.
        assert video.created_at == tiktok_id_time(video.video_id)
        assert video.created_at is not None and video.created_at <= video.observed_at
        assert video.views is not None and video.likes is not None and video.likes <= video.views


def test_records_are_ordered_and_counters_never_decrease(records: list[dict[str, Any]]) -> None:
    observed = [r["observed_at"] for r in records]
    assert observed == sorted(observed)
    by_video: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_video[record["video_id"]].append(record)
    assert set(Counter(len(obs) for obs in by_video.values())) == {1, 2, 3, 4, 5}
    grew = 0
    for observations in by_video.values():
        for before, after in pairwise(observations):
            assert before["observed_at"] < after["observed_at"]
            assert all(after[name] >= before[name] for name in COUNTERS)
            grew += after["views"] > before["views"]
    assert grew > len(by_video) / 4


def test_ground_truth_file_matches_planted_trends(tmp_path: Path) -> None:
    config = SimConfig(seed=3, hours=48, videos_per_hour=40, n_trends=8)
    out = write_simulation(config, tmp_path)
    with out.truth_path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    trends = planted_trends(config)
    assert len(rows) == len(trends) == 8
    for row, trend in zip(rows, trends, strict=True):
        assert row["keyword"] == trend.keyword
        assert row["display"] == trend.display
        assert row["kind"] == trend.kind
        assert row["region"] == trend.region
        assert datetime.fromisoformat(row["onset"]) == trend.onset
        assert datetime.fromisoformat(row["peak"]) == trend.peak
        assert float(row["peak_rate"]) == trend.peak_rate


def test_default_scenario_plants_mostly_late_trends() -> None:
    config = SimConfig()
    trends = planted_trends(config)
    assert len(trends) == 12
    assert Counter(t.kind for t in trends) == {"hashtag": 8, "sound": 4}
    regions = {t.region for t in trends}
    assert "*" in regions and regions - {"*"} <= set(config.regions) and len(regions) > 1
    assert len({t.keyword for t in trends}) == 12
    middle, last_day = config.start + timedelta(hours=48), config.end - timedelta(hours=24)
    assert sum(t.onset >= middle for t in trends) >= 8
    assert sum(t.peak >= last_day for t in trends) >= 8  # still rising or peaking in the last day
    assert any(t.peak < middle for t in trends)  # a couple peaked earlier
    for t in trends:
        assert timedelta(hours=12) <= t.peak - t.onset <= timedelta(hours=48)
        assert 0.02 <= t.peak_rate <= 0.10
        assert t.keyword == t.keyword.lower() and "#" not in t.keyword


def test_trend_keywords_are_not_background_vocabulary() -> None:
    vocabulary = background_vocabulary()
    assert {"fyp", "hôm nay", "recipe", "summer again"} <= vocabulary
    for seed in range(5):
        for trend in planted_trends(SimConfig(seed=seed, n_trends=30)):
            assert trend.keyword not in vocabulary
            assert trend.keyword.replace(" ", "") not in vocabulary


def test_trend_share_rises_from_onset_to_peak(videos: list[dict[str, Any]]) -> None:
    checked = 0
    for trend in planted_trends(CONFIG):
        if trend.onset - CONFIG.start < timedelta(hours=12) or trend.peak > CONFIG.end:
            continue
        home = [v for v in videos if trend.region in ("*", v["region"])]
        before = [v for v in home if _created(v) < trend.onset]
        near = [v for v in home if abs(_created(v) - trend.peak) <= timedelta(hours=6)]
        if trend.peak_rate * len(near) < 20:
            continue  # too few videos in a small region to measure a share
        share_before = sum(_carries(v, trend) for v in before) / len(before)
        share_near = sum(_carries(v, trend) for v in near) / len(near)
        assert share_near >= 0.4 * trend.peak_rate, trend
        assert share_before <= 0.1 * share_near, trend
        checked += 1
    assert checked >= 2


def test_regional_trends_stay_in_their_region(videos: list[dict[str, Any]]) -> None:
    regional = [t for t in planted_trends(CONFIG) if t.region != "*"]
    assert regional
    home, away = 0, 0
    for trend in regional:
        after_onset = [v for v in videos if _created(v) >= trend.onset]
        carriers = Counter(v["region"] for v in after_onset if _carries(v, trend))
        volume = Counter(v["region"] for v in after_onset)
        share = {region: carriers[region] / volume[region] for region in volume}
        assert all(share[trend.region] > 3 * s for r, s in share.items() if r != trend.region), (trend, share)
        home += carriers[trend.region]
        away += sum(carriers.values()) - carriers[trend.region]
    # A little spills over (people travel, follow foreign creators), but almost all of it stays home.
    assert home >= 0.85 * (home + away)


def test_planted_trends_look_like_real_usage(videos: list[dict[str, Any]]) -> None:
    spellings: set[str] = set()
    for trend in planted_trends(CONFIG):
        carriers = [v for v in videos if _carries(v, trend)]
        assert carriers, trend
        if trend.kind == "sound":
            assert all(v["music_original"] is False and v["music_author"] for v in carriers)
        else:
            used = {tag for v in carriers for tag in v["hashtags"] if tag.lower() == trend.keyword}
            assert len(carriers) < 10 or trend.display in used, trend
            spellings |= used - {trend.display}
    assert spellings  # people also write a trend in lower or upper case


def test_hashtags_mirror_the_caption(videos: list[dict[str, Any]]) -> None:
    counts = Counter(len(v["hashtags"]) for v in videos)
    assert set(counts) <= set(range(1, 9)) and {1, 6} <= set(counts)
    for video in videos:
        assert re.findall(r"#(\S+)", video["caption"]) == video["hashtags"]
    assert any(tag != tag.lower() for v in videos for tag in v["hashtags"])  # mixed case
    assert sum("@" in v["caption"] for v in videos) > 0.05 * len(videos)
    assert any("https://" in v["caption"] for v in videos)


def test_generic_tags_are_common_with_variants_and_a_stable_share(videos: list[dict[str, Any]]) -> None:
    tags = Counter(tag.lower() for v in videos for tag in v["hashtags"])
    assert sum(any(t.lower() in GENERIC_TAGS for t in v["hashtags"]) for v in videos) > 0.6 * len(videos)
    assert {"fyp", "foryou", "foryoupage", "viral", "trending", "xuhuong", "xh", "capcut"} <= set(tags)
    assert tags["fypppp"] and tags["xhhhhhh"] and tags["fypシ゚"] and tags["fyp✨"]
    days: list[list[dict[str, Any]]] = [[], [], []]
    for video in videos:
        days[(_created(video) - CONFIG.start) // timedelta(hours=24)].append(video)
    fyp = [sum("fyp" in {t.lower() for t in v["hashtags"]} for v in day) for day in days]
    shares = [count / len(day) for count, day in zip(fyp, days, strict=True)]
    assert fyp[2] > fyp[0]  # raw counts grow with volume
    assert max(shares) / min(shares) < 1.15  # but the share does not trend


def test_volume_has_a_daily_cycle_and_drift(videos: list[dict[str, Any]]) -> None:
    hourly: Counter[tuple[str, int]] = Counter()
    for video in videos:
        hourly[video["region"], (_created(video) - CONFIG.start) // timedelta(hours=1)] += 1
    for region in CONFIG.regions:
        counts = [hourly[region, h] for h in range(CONFIG.hours)]
        assert max(counts) > 3 * max(min(counts), 1), region
    first_day = sum(v for (_, h), v in hourly.items() if h < 24)
    last_day = sum(v for (_, h), v in hourly.items() if h >= CONFIG.hours - 24)
    assert last_day > 1.15 * first_day


def test_regions_speak_their_languages(videos: list[dict[str, Any]]) -> None:
    languages = {(v["region"], v["language"]) for v in videos}
    assert {("US", "en"), ("GB", "en"), ("DE", "de"), ("FR", "fr"), ("VN", "vi"), ("DE", "en")} <= languages
    vietnamese = [v["caption"] for v in videos if v["language"] == "vi"]
    with_marks = [c for c in vietnamese if re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệịỉĩọỏốồổỗộớờởỡợụủũứừửữựỳỵỷỹ]", c)]
    assert len(with_marks) > 0.6 * len(vietnamese)
    sounds = Counter(v["music_title"].split(" - ")[0] for v in videos if v["music_original"])
    assert sounds["nhạc nền"] and sounds["original sound"]
    assert any("ü" in v["caption"] or "ä" in v["caption"] for v in videos if v["language"] == "de")
    assert any("é" in v["caption"] or "ç" in v["caption"] for v in videos if v["language"] == "fr")


def test_engagement_is_heavy_tailed_and_trends_help(
    videos: list[dict[str, Any]], records: list[dict[str, Any]]
) -> None:
    last: dict[str, int] = {}
    for record in records:
        last[record["video_id"]] = record["views"]
    views = sorted(last.values())
    median, top = views[len(views) // 2], views[int(len(views) * 0.999)]
    assert top > 50 * median
    trends = planted_trends(CONFIG)
    on_trend = [last[v["video_id"]] for v in videos if any(_carries(v, t) for t in trends)]
    off_trend = [last[v["video_id"]] for v in videos if not any(_carries(v, t) for t in trends)]
    assert sorted(on_trend)[len(on_trend) // 2] > sorted(off_trend)[len(off_trend) // 2]


@pytest.mark.parametrize(
    "changes",
    [
        {"hours": 12},
        {"regions": ()},
        {"regions": ("US", "XX")},
        {"regions": ("US", "US")},
        {"videos_per_hour": 0},
        {"n_trends": 500},
        {"peak_rate_range": (0.2, 0.1)},
        {"start": datetime(2025, 6, 2)},
        {"global_share": 1.5},
    ],
)
def test_bad_config_is_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SimConfig(**changes)
