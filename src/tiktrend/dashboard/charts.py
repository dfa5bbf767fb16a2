"""The dashboard's plotly figures, built from frames alone (no store, no Streamlit), so they can be tested as data."""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import quote

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from tiktrend.dashboard.geo import world_countries

# One colour per modality across every chart, so a modality reads the same everywhere.
MODALITY_COLORS: Final = {
    "hashtag": "#1f77b4",
    "caption": "#ff7f0e",
    "music": "#2ca02c",
    "emoji": "#d62728",
    "transcript": "#9467bd",
    "ocr": "#8c564b",
    "image_caption": "#e377c2",
}
STAGE_COLORS: Final = {"emerging": "#2ca02c", "rising": "#1f77b4", "peaking": "#ff7f0e", "fading": "#7f7f7f"}
ENGAGEMENT_PARTS: Final = ("likes", "comments", "shares", "saves")
ENGAGEMENT_FIGURES: Final = ("engagement", "engagement_rate", "virality", "discussion")
ENGAGEMENT_LABEL: Final = "likes + comments + shares + saves"
MAP_COLORSCALE: Final = "Viridis"
_LAYOUT: Final[dict[str, Any]] = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "legend_title_text": ""}


def engagement_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the original's engagement figures: total (likes, comments, shares, saves), rate per view, virality
    (shares per view) and discussion (comments per view)."""
    out = frame.copy()
    for column in ("views", *ENGAGEMENT_PARTS):
        if column not in out:
            out[column] = 0
        out[column] = pd.to_numeric(out[column], errors="coerce").fillna(0)
    views = out["views"].where(out["views"] > 0)
    out["engagement"] = sum((out[c] for c in ENGAGEMENT_PARTS), start=pd.Series(0, index=out.index))
    out["engagement_rate"] = (out["engagement"] / views).fillna(0.0)
    out["virality"] = (out["shares"] / views).fillna(0.0)
    out["discussion"] = (out["comments"] / views).fillna(0.0)
    return out


def video_link(author: object, video_id: object) -> str | None:
    """The video's page on tiktok.com (``https://www.tiktok.com/@author/video/id``), or None without an author."""
    handle = str(author or "").strip().lstrip("@")
    if not handle or not str(video_id or "").strip():
        return None
    return f"https://www.tiktok.com/@{quote(handle)}/video/{quote(str(video_id).strip())}"


_MARKDOWN_SPECIALS: Final = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$])")


def plain_markdown(text: object, limit: int = 160) -> str:
    """User text shown literally in markdown (a caption's ``#tags`` and ``*stars*`` are not markup), shortened."""
    value = " ".join(str(text or "").split())
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return _MARKDOWN_SPECIALS.sub(r"\\\1", value)


def _empty(title: str, why: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, **_LAYOUT)
    figure.add_annotation(text=why, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return figure


def top_keywords_chart(frame: pd.DataFrame) -> go.Figure:
    """Top keywords by engagement, one bar per keyword and modality, coloured by modality (the original's first)."""
    title = "Top keywords by engagement"
    if frame.empty:
        return _empty(title, "no keyword matches the filters")
    data = engagement_columns(frame)
    data["label"] = data["display"] if "display" in data else data["keyword"]
    order = data.groupby("label")["engagement"].sum().sort_values(ascending=False).index.tolist()
    figure = px.bar(
        data,
        x="engagement",
        y="label",
        color="modality",
        orientation="h",
        color_discrete_map=MODALITY_COLORS,
        category_orders={"label": order},
        hover_data={"views": ":,", "videos": True, "label": False} if "videos" in data else {"views": ":,"},
        title=title,
    )
    figure.update_layout(yaxis_title="", xaxis_title=ENGAGEMENT_LABEL, **_LAYOUT)
    return figure


def _outline(features: list[dict[str, Any]]) -> tuple[list[float | None], list[float | None]]:
    """Longitudes and latitudes of every ring of the features, rings separated by None (one path per ring)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for feature in features:
        geometry = feature["geometry"]
        polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
        for polygon in polygons:
            for ring in polygon:
                previous = None
                for lon, lat in ring:
                    # A ring that crosses the antimeridian (Russia, Fiji) is cut there, not drawn across the map.
                    if previous is not None and abs(lon - previous) > 180:
                        xs.append(None)
                        ys.append(None)
                    xs.append(lon)
                    ys.append(lat)
                    previous = lon
                xs.append(None)
                ys.append(None)
    return xs, ys


def _per_region(frame: pd.DataFrame, value: str) -> pd.DataFrame:
    """One row per region; rates are recomputed from summed counters, never summed themselves."""
    if frame.empty:
        return frame
    if value in ENGAGEMENT_FIGURES:
        counters = [c for c in ("views", *ENGAGEMENT_PARTS) if c in frame]
        return engagement_columns(frame.groupby("region", as_index=False)[counters].sum())
    return frame.groupby("region", as_index=False)[[value]].sum()


def region_map(frame: pd.DataFrame, value: str = "engagement_rate", title: str | None = None) -> go.Figure:
    """A choropleth of one figure per region, drawn as filled country shapes from the packaged world geometry.

    Plotly's geo subplots fetch their topology from a CDN even with the base map hidden, so the countries are
    drawn on plain axes instead (longitude and latitude, equirectangular): the map needs no network at all.
    """
    title = title or f"{value.replace('_', ' ').capitalize()} by region"
    # Antarctica has no TikTok region and would take a fifth of the map.
    features = {feature["id"]: feature for feature in world_countries()["features"] if feature["id"] != "AQ"}
    data = _per_region(frame[frame["region"].isin(features.keys())] if not frame.empty else frame, value)
    if data.empty:
        return _empty(title, "no region with a known country code matches the filters")
    low, high = float(data[value].min()), float(data[value].max())
    if high == low:  # one region, or all equal: a scale from zero, not an empty interval
        low, high = min(0.0, low), (high if high > 0 else low + 1.0)
    figure = go.Figure()
    xs, ys = _outline([f for code, f in features.items() if code not in set(data["region"])])
    figure.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            fill="toself",
            fillcolor="#e5e5e5",
            line={"color": "white", "width": 0.5},
            mode="lines",
            hoverinfo="skip",
            showlegend=False,
            name="no data",
        )
    )
    label = value.replace("_", " ")
    for row in data.itertuples(index=False):
        code, figure_value = str(row.region), float(getattr(row, value))
        position = 0.5 if high == low else (figure_value - low) / (high - low)
        xs, ys = _outline([features[code]])
        name = features[code]["properties"]["name"]
        figure.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                fill="toself",
                mode="lines",
                line={"color": "white", "width": 0.5},
                fillcolor=sample_colorscale(MAP_COLORSCALE, [position])[0],
                hoveron="fills",
                hoverinfo="text",
                text=f"{name} ({code})<br>{label}: {figure_value:,.4g}",
                name=code,
                showlegend=False,
            )
        )
    # An invisible marker carries the colour bar, so the scale reads like a choropleth's.
    figure.add_trace(
        go.Scatter(
            x=[None],
            y=[None],
            mode="markers",
            hoverinfo="skip",
            showlegend=False,
            marker={
                "colorscale": MAP_COLORSCALE,
                "cmin": low,
                "cmax": high,
                "color": [low],
                "showscale": True,
                "colorbar": {"title": {"text": label}},
            },
        )
    )
    figure.update_xaxes(visible=False, range=[-180, 180], fixedrange=False)
    figure.update_yaxes(visible=False, range=[-58, 85], scaleanchor="x", scaleratio=1)
    figure.update_layout(title=title, height=460, plot_bgcolor="white", **_LAYOUT)
    return figure


def virality_discussion_chart(frame: pd.DataFrame) -> go.Figure:
    """Shares per view against comments per view for each keyword, sized by views (the original's third)."""
    title = "Virality (shares / view) vs discussion (comments / view)"
    if frame.empty:
        return _empty(title, "no keyword matches the filters")
    data = engagement_columns(frame)
    data["label"] = data["display"] if "display" in data else data["keyword"]
    data = engagement_columns(data.groupby("label", as_index=False)[["views", *ENGAGEMENT_PARTS]].sum())
    figure = px.scatter(
        data,
        x="virality",
        y="discussion",
        size=data["views"].clip(lower=1),
        hover_name="label",
        hover_data={"views": ":,", "virality": ":.4f", "discussion": ":.4f"},
        title=title,
    )
    figure.update_layout(xaxis_title="shares per view", yaxis_title="comments per view", **_LAYOUT)
    return figure


def category_chart(frame: pd.DataFrame) -> go.Figure:
    """Engagement per category (the original's fourth)."""
    title = "Engagement by category"
    if frame.empty:
        return _empty(title, "no category matches the filters")
    data = engagement_columns(frame).sort_values("engagement", ascending=False)
    figure = px.bar(data, x="category", y="engagement", hover_data={"views": ":,"}, title=title)
    figure.update_layout(xaxis_title="", yaxis_title=ENGAGEMENT_LABEL, **_LAYOUT)
    return figure


def trend_scores_chart(frame: pd.DataFrame) -> go.Figure:
    """The current trends' scores, one bar per keyword coloured by lifecycle stage."""
    title = "Trending now"
    if frame.empty:
        return _empty(title, "no trend matches the filters")
    data = frame.copy()
    data["label"] = data["display"] if "display" in data else data["keyword"]
    figure = px.bar(
        data,
        x="score",
        y="label",
        color="stage",
        orientation="h",
        color_discrete_map=STAGE_COLORS,
        category_orders={"label": data["label"].tolist()},
        hover_data={"growth": ":.2f", "videos_now": True, "videos_before": True},
        title=title,
    )
    figure.update_layout(yaxis_title="", xaxis_title="score", height=max(300, 24 * len(data) + 80), **_LAYOUT)
    return figure


def keyword_series_chart(frame: pd.DataFrame, keyword: str, value: str = "videos") -> go.Figure:
    """One keyword's series per bucket (one line per modality when the frame has them)."""
    title = f"{keyword}: {value} per bucket"
    if frame.empty:
        return _empty(title, "no mention of this keyword in the selected range")
    color = "modality" if "modality" in frame and frame["modality"].nunique() > 1 else None
    figure = px.line(
        frame.sort_values("bucket"),
        x="bucket",
        y=value,
        color=color,
        markers=frame["bucket"].nunique() <= 48,
        color_discrete_map=MODALITY_COLORS,
        title=title,
    )
    figure.update_layout(xaxis_title="", yaxis_title=value, **_LAYOUT)
    return figure


def share_chart(frame: pd.DataFrame, column: str, value: str, title: str) -> go.Figure:
    """A small bar chart of one figure per value of ``column`` (a keyword's modalities or regions)."""
    if frame.empty:
        return _empty(title, "nothing in the selected range")
    color_map = MODALITY_COLORS if column == "modality" else None
    figure = px.bar(
        frame.sort_values(value, ascending=False),
        x=column,
        y=value,
        color=column if color_map else None,
        color_discrete_map=color_map or {},
        title=title,
    )
    figure.update_layout(xaxis_title="", yaxis_title=value, showlegend=False, **_LAYOUT)
    return figure


def stage_timings_chart(frame: pd.DataFrame) -> go.Figure:
    """Seconds each stage took in each run (``run_id``, ``stage``, ``seconds``)."""
    title = "Stage timings per run"
    if frame.empty:
        return _empty(title, "no run recorded stage timings")
    figure = px.bar(frame, x="run_id", y="seconds", color="stage", title=title)
    figure.update_layout(xaxis_title="", yaxis_title="seconds", **_LAYOUT)
    return figure


def volume_chart(frame: pd.DataFrame) -> go.Figure:
    """Records read, accepted and quarantined per run (``run_id``, ``metric``, ``value``)."""
    title = "Volumes per run"
    if frame.empty:
        return _empty(title, "no run recorded volumes")
    figure = px.bar(frame, x="run_id", y="value", color="metric", barmode="group", title=title)
    figure.update_layout(xaxis_title="", yaxis_title="records", **_LAYOUT)
    return figure


def backtest_chart(frame: pd.DataFrame, metric: str) -> go.Figure:
    """One backtest figure per detector (``detector`` and the metric's column)."""
    title = f"Backtest: {metric.replace('_', ' ')} per detector"
    if frame.empty or metric not in frame:
        return _empty(title, "no backtest result holds this figure")
    figure = px.bar(frame, x="detector", y=metric, color="truth" if "truth" in frame else None, barmode="group")
    figure.update_layout(title=title, xaxis_title="", yaxis_title=metric.replace("_", " "), **_LAYOUT)
    return figure
