"""The dashboard's pure parts: the packaged world geometry, the charts as data, the filters' URL round trip."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

pytest.importorskip("plotly", reason="the dashboard extra (plotly) is not installed")

from tiktrend.dashboard import charts
from tiktrend.dashboard.filters import Choices, Filters, describe, from_query, to_query
from tiktrend.dashboard.geo import country_names, world_countries

CHOICES = Choices(
    regions=("DE", "US", "VN"),
    categories=("food", "music"),
    modalities=("caption", "hashtag", "music"),
    first_day=date(2025, 5, 1),
    last_day=date(2025, 5, 4),
)


def test_world_geometry_is_keyed_on_alpha2_with_closed_rings() -> None:
    features = world_countries()["features"]
    codes = [f["id"] for f in features]
    assert len(codes) == len(set(codes)) > 170
    names = country_names()
    assert names["US"] == "United States of America"
    assert names["VN"] == "Vietnam"
    assert {"GB", "DE", "FR", "BR", "IN", "JP"} <= set(names)
    for feature in features:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        for ring in (ring for polygon in polygons for ring in polygon):
            assert ring[0] == ring[-1], feature["id"]
            assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)


def test_region_map_draws_one_shape_per_region_without_a_geo_subplot() -> None:
    frame = pd.DataFrame(
        {
            "region": ["US", "US", "VN", "ZZ"],
            "views": [100, 100, 1000, 5],
            "likes": [10, 30, 10, 1],
            "comments": [0, 0, 0, 0],
            "shares": [0, 0, 0, 0],
        }
    )
    figure = charts.region_map(frame)
    named = {trace.name: trace for trace in figure.data if trace.name in ("US", "VN")}
    assert set(named) == {"US", "VN"}
    # US: (10 + 30) likes over 200 views, recomputed from the summed counters (not 0.1 + 0.3).
    assert "0.2" in named["US"].text
    assert "0.01" in named["VN"].text
    layout = figure.to_plotly_json()["layout"]
    # A geo subplot would make plotly.js fetch its topology from a CDN.
    assert not any(key.startswith("geo") for key in layout)
    assert "ZZ" not in {trace.name for trace in figure.data}


def test_region_map_of_nothing_says_so() -> None:
    figure = charts.region_map(pd.DataFrame({"region": ["ZZ"], "views": [1]}))
    assert "no region" in figure.layout.annotations[0].text


def test_engagement_columns_survive_zero_views() -> None:
    frame = charts.engagement_columns(pd.DataFrame({"views": [0, 200], "likes": [5, 10], "comments": [1, 20]}))
    assert frame["engagement"].tolist() == [6, 30]
    assert frame["engagement_rate"].tolist() == [0.0, 0.15]
    assert frame["discussion"].tolist() == [0.0, 0.1]
    assert frame["virality"].tolist() == [0.0, 0.0]


def test_top_keywords_chart_colours_by_modality() -> None:
    frame = pd.DataFrame(
        {
            "keyword": ["matcha", "matcha", "latte"],
            "modality": ["hashtag", "caption", "hashtag"],
            "views": [100, 50, 10],
            "likes": [10, 5, 1],
            "comments": [1, 1, 1],
            "shares": [1, 1, 1],
        }
    )
    figure = charts.top_keywords_chart(frame)
    assert {trace.name for trace in figure.data} == {"hashtag", "caption"}
    # Horizontal bars list categories bottom up: the most engaging keyword is drawn on top.
    assert figure.layout.yaxis.categoryarray == ("latte", "matcha")


def test_filters_round_trip_through_the_url() -> None:
    filters = Filters(
        regions=("US", "VN"),
        categories=("food",),
        modalities=("hashtag",),
        first_day=date(2025, 5, 2),
        last_day=date(2025, 5, 3),
        top_n=10,
    )
    params = to_query(filters, CHOICES)
    assert params == {
        "region": "US,VN",
        "category": "food",
        "modality": "hashtag",
        "from": "2025-05-02",
        "to": "2025-05-03",
        "top": "10",
    }
    assert from_query(params, CHOICES) == filters
    assert to_query(from_query({}, CHOICES), CHOICES) == {}


def test_bad_url_values_are_noted_not_fatal() -> None:
    filters = from_query({"region": "US,XX", "top": "many", "from": "May", "to": "2031-01-01"}, CHOICES)
    assert filters.regions == ("US",)
    assert filters.top_n == 20
    assert (filters.first_day, filters.last_day) == (CHOICES.first_day, CHOICES.last_day)
    assert len(filters.notes) == 3
    assert "XX" in filters.notes[0] and "DE, US, VN" in filters.notes[0]
    assert "US" in describe(filters)


def test_the_dashboard_command_runs_streamlit_offline_and_headless() -> None:
    from typer.testing import CliRunner

    from tiktrend.cli import app
    from tiktrend.cli_dashboard import streamlit_command

    command = streamlit_command(host="0.0.0.0", port=8600)
    assert command[1:3] == ["-m", "tiktrend.dashboard.server"]
    for option in (
        "--browser.gatherUsageStats=false",
        "--server.headless=true",
        "--server.address=0.0.0.0",
        "--server.port=8600",
    ):
        assert option in command
    assert "--browser.serverAddress=localhost" in command  # no public-address lookup on a wildcard host
    assert not any("serverAddress" in o for o in streamlit_command(host="127.0.0.1", port=8600))
    result = CliRunner().invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def test_captions_are_shown_literally_and_videos_link_to_tiktok() -> None:
    assert charts.plain_markdown("#matcha *so* [good](x)") == r"\#matcha \*so\* \[good\]\(x\)"
    assert charts.plain_markdown("a " * 200).endswith("…")
    assert (
        charts.video_link("@ava.hall", 7541035053569051926)
        == "https://www.tiktok.com/@ava.hall/video/7541035053569051926"
    )
    assert charts.video_link(None, "1") is None
