"""The tiktrend dashboard (``tiktrend dashboard`` runs it with ``streamlit run``): views over the store.

Every read goes through ``tiktrend.dashboard.data`` (cached, over the query layer); this file only lays out
widgets and charts. The filters in the sidebar apply to every view and are mirrored in the page's URL.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import pandas as pd
import streamlit as st

from tiktrend.dashboard import charts, data
from tiktrend.dashboard.filters import TOP_N_CHOICES, Choices, Filters, clamp_days, describe, from_query, to_query
from tiktrend.dashboard.geo import country_names
from tiktrend.settings import Settings
from tiktrend.store import StoreError

VIEWS: Final = ("Trending now", "Keyword", "Engagement", "Regions", "Pipeline health", "Backtests")
VIEW_SLUGS: Final = {name: name.lower().split()[0] for name in VIEWS}  # ?view=trending, keyword, ...
FIRST_RUN: Final = """
**The store holds no data yet.** Fill it, then reload this page:

```sh
tiktrend run                          # simulate a 4-day demo feed and run the whole pipeline
tiktrend ingest my_export.jsonl       # ...or import your own files (JSON, JSONL, CSV; see tiktrend ingest --help)
tiktrend run my_export.jsonl          # ...and detect trends in them
```

The dashboard reads `{url}` (set `TIKTREND_DATABASE_URL` to read another store).
"""


def main() -> None:
    """Lay out the page: sidebar filters, then the chosen view."""
    st.set_page_config(page_title="tiktrend", page_icon=":chart_with_upwards_trend:", layout="wide")
    settings = Settings()
    source = _source_or_stop(settings)
    _apply_pending_navigation()
    view = _sidebar_view()
    filters = _sidebar_filters(source.choices)
    st.query_params.from_dict({"view": VIEW_SLUGS[view], **_keyword_param(view), **to_query(filters, source.choices)})
    for note in filters.notes:
        st.warning(note)
    RENDERERS[view](source, filters)


@dataclass(frozen=True)
class Source:
    """The store a page reads, the version its cached answers are keyed on, and what its filters can choose."""

    url: str
    version: str
    choices: Choices
    reports_dir: Path


def _source_or_stop(settings: Settings) -> Source:
    """The store and what it holds, or a first-run / busy message and the end of this rerun."""
    url = settings.database_url
    try:
        version = data.version(url)
        choices = data.choices(url, version)
    except data.StoreBusy as exc:
        st.title("tiktrend")
        st.warning(f"{exc}. This page reads again when you press Retry.")
        st.button("Retry")
        st.stop()
    except data.StoreMissing:
        version, choices = "", Choices()
    except StoreError as exc:
        st.title("tiktrend")
        st.error(f"The store cannot be read: {exc}")
        st.stop()
    if choices.empty:
        st.title("tiktrend: welcome")
        st.info(FIRST_RUN.format(url=url), icon=":material/rocket_launch:")
        st.stop()
    return Source(url, version, choices, settings.reports_dir)


def _apply_pending_navigation() -> None:
    """Open the view a button asked for; widget state can only change before its widget is drawn."""
    if "open_keyword" in st.session_state:
        st.session_state["view"] = "Keyword"
        st.session_state["keyword"] = st.session_state.pop("open_keyword")


def _sidebar_view() -> str:
    if "view" not in st.session_state:
        slug = st.query_params.get("view", "trending")
        st.session_state["view"] = next((name for name, s in VIEW_SLUGS.items() if s == slug), VIEWS[0])
        if st.query_params.get("keyword"):
            st.session_state["keyword"] = st.query_params["keyword"]
    st.sidebar.title("tiktrend")
    return str(st.sidebar.radio("View", VIEWS, key="view"))


def _keyword_param(view: str) -> dict[str, str]:
    keyword = st.session_state.get("keyword")
    return {"keyword": str(keyword)} if view == "Keyword" and keyword else {}


def _sidebar_filters(choices: Choices) -> Filters:
    """The five filters every view respects, first read from the URL, then from the widgets."""
    if "filters_ready" not in st.session_state:
        initial = from_query(st.query_params.to_dict(), choices)
        st.session_state.update(
            {
                "f_regions": list(initial.regions),
                "f_categories": list(initial.categories),
                "f_modalities": list(initial.modalities),
                "f_days": (initial.first_day, initial.last_day),
                "f_top": initial.top_n if initial.top_n in TOP_N_CHOICES else 20,
                "filters_ready": True,
                "filter_notes": initial.notes,
            }
        )
    else:
        # A value the store no longer holds (another store, a rebuilt one) would make its widget fail.
        for key, allowed in (("f_regions", choices.regions), ("f_categories", choices.categories)):
            st.session_state[key] = [v for v in st.session_state.get(key, []) if v in allowed]
        first, last = _day_range(st.session_state.get("f_days"))
        held = (choices.first_day, choices.last_day)
        if first and last and held[0] and held[1] and not held[0] <= first <= last <= held[1]:
            st.session_state["f_days"] = held
    sidebar = st.sidebar
    sidebar.header("Filters")
    regions = sidebar.multiselect("Regions", choices.regions, key="f_regions", placeholder="all regions")
    categories = sidebar.multiselect("Categories", choices.categories, key="f_categories", placeholder="all")
    modalities = sidebar.multiselect("Modalities", choices.modalities, key="f_modalities", placeholder="all")
    days = sidebar.date_input(
        "Days (UTC)", key="f_days", min_value=choices.first_day, max_value=choices.last_day, format="YYYY-MM-DD"
    )
    top_n = sidebar.select_slider("Top N", TOP_N_CHOICES, key="f_top")
    first, last = _day_range(days)
    filters = Filters(
        regions=tuple(regions),
        categories=tuple(categories),
        modalities=tuple(modalities),
        first_day=first,
        last_day=last,
        top_n=int(top_n),
        notes=tuple(st.session_state.pop("filter_notes", ())),
    )
    return clamp_days(filters, choices)


def _day_range(value: Any) -> tuple[date | None, date | None]:
    """The date input's answer: one day while a range is being picked, two once it is."""
    days = [d for d in (value if isinstance(value, tuple | list) else (value,)) if isinstance(d, date)]
    if not days:
        return None, None
    return days[0], days[-1]


# ---- views ------------------------------------------------------------------------------------------------


def trending_view(source: Source, filters: Filters) -> None:
    """The ranked trends of the latest detection, with sparklines and lifecycle stages."""
    st.header("Trending now")
    scopes = data.trend_scopes(source.url, source.version)
    if scopes.empty:
        st.info("No trend has been detected yet: run `tiktrend run` (or `tiktrend trends --detector poisson`).")
        return
    left, right = st.columns(2)
    labels = [f"{row.detector}, {row.time_window} window" for row in scopes.itertuples()]
    chosen = left.selectbox("Detection", range(len(labels)), format_func=lambda i: labels[i], key="scope")
    scope = scopes.iloc[int(chosen or 0)]
    frame = data.trends(source.url, source.version, filters, str(scope["time_window"]), str(scope["detector"]))
    right.caption(
        f"Ranking as of {pd.Timestamp(scope['as_of']):%Y-%m-%d %H:%M} UTC (the latest detection: the day range "
        f"sets the sparklines' span, not the ranking; {data.grain_of(filters)} buckets). {describe(filters)}."
    )
    if frame.empty:
        st.info("No trend in this detection matches the filters. Widen the regions, categories or modalities.")
        return
    lines = data.sparklines(source.url, source.version, frame, filters)
    table = frame.assign(recent=pd.Series(lines, index=frame.index, dtype=object))
    columns = ["display", "stage", "recent", "score", "growth", "videos_now", "videos_before", "region"]
    columns += ["category", "modality", "explanation"]
    st.dataframe(
        table[[c for c in columns if c in table]],
        hide_index=True,
        width="stretch",
        column_config={
            "display": st.column_config.TextColumn("keyword"),
            "recent": st.column_config.LineChartColumn("videos per bucket", y_min=0),
            "growth": st.column_config.NumberColumn(format="%.2f"),
            "score": st.column_config.NumberColumn(format="%.3g"),
            "videos_now": st.column_config.NumberColumn("videos now"),
            "videos_before": st.column_config.NumberColumn("before"),
        },
        key="trend_table",
        on_select=functools.partial(_open_selected_row, tuple(frame["keyword"])),
        selection_mode="single-row",
    )
    st.caption("Click a row (its box at the left) to open that keyword's drill-down, or pick one below.")
    _open_keyword_picker(frame)
    st.plotly_chart(charts.trend_scores_chart(frame), width="stretch", key="trend_chart")


def _open_selected_row(keywords: tuple[str, ...]) -> None:
    """Open the Keyword view on the clicked row's keyword.

    A callback runs before the next rerun draws any widget, so it may switch the view's radio at once (no
    second rerun); the table is not drawn in the Keyword view, so its selection is gone when the reader
    comes back to the ranking.
    """
    rows = st.session_state["trend_table"].selection.rows
    if rows and 0 <= rows[0] < len(keywords):
        st.session_state["open_keyword"] = keywords[rows[0]]
        _apply_pending_navigation()


def _open_keyword_picker(frame: pd.DataFrame) -> None:
    names = dict(zip(frame["keyword"], frame["display"], strict=True))
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    picked = left.selectbox("Open a keyword", list(names), format_func=lambda k: names[k], key="pick_keyword")
    if right.button("Open the drill-down", key="open_button") and picked:
        st.session_state["open_keyword"] = picked
        st.rerun()


def keyword_view(source: Source, filters: Filters) -> None:
    """One keyword's evidence: its series, modalities, regions and example videos."""
    st.header("Keyword")
    typed = st.text_input("Keyword (as stored: lower case, no #)", key="keyword")
    keyword = str(typed).strip().lower().lstrip("#")
    if not keyword:
        st.info("Type a keyword, or open one from **Trending now**.")
        return
    evidence = data.keyword_evidence(source.url, source.version, keyword, filters)
    if not evidence.found:
        st.info(f"No mention of {keyword!r} matches the filters ({describe(filters)}).")
        return
    st.subheader(evidence.display)
    if len(filters.modalities) > 1:
        st.caption("Figures add the chosen modalities up: a video mentioning the keyword in two counts twice.")
    totals = evidence.series[list(data.SUMS)].sum()
    engagement = sum(float(totals[c]) for c in ("likes", "comments", "shares", "saves"))
    rate = engagement / float(totals["views"]) if totals["views"] else 0.0
    metrics = st.columns(4)
    metrics[0].metric("videos", f"{int(totals['videos']):,}")
    metrics[1].metric("views", f"{int(totals['views']):,}")
    metrics[2].metric("engagement rate", f"{rate:.2%}")
    metrics[3].metric("modalities", f"{len(evidence.modalities)}")
    st.plotly_chart(
        charts.keyword_series_chart(evidence.series, evidence.display), width="stretch", key="keyword_series"
    )
    left, right = st.columns(2)
    left.plotly_chart(
        charts.share_chart(evidence.modalities, "modality", "videos", "Videos per modality"),
        width="stretch",
        key="keyword_modalities",
    )
    right.plotly_chart(
        charts.share_chart(evidence.regions, "region", "videos", "Videos per region"),
        width="stretch",
        key="keyword_regions",
    )
    _keyword_trends(evidence.trends)
    st.subheader("Example videos")
    if evidence.examples.empty:
        st.caption("No example video in the selected range.")
        return
    lines = []
    for video in evidence.examples.to_dict("records"):
        author = charts.plain_markdown(f"@{video['author']}" if video["author"] else "unknown author")
        who = f"[{author}]({video['link']})" if video["link"] else author
        views = int(video["views"]) if pd.notna(video["views"]) else 0
        lines.append(f"- {who}: {views:,} views; {charts.plain_markdown(video['caption'])}")
    st.markdown("\n".join(lines))


def _keyword_trends(ranked: pd.DataFrame) -> None:
    """Where the keyword ranks in the latest detections: window, detector, slice, rank, stage and score."""
    st.subheader("Where it trends now")
    if ranked.empty:
        st.caption("No stored detection ranks this keyword in the selected slices.")
        return
    columns = ["time_window", "detector", "region", "category", "modality", "rank", "stage", "score", "growth"]
    st.dataframe(
        ranked[[c for c in columns if c in ranked]].sort_values(["rank", "time_window", "detector"]),
        hide_index=True,
        width="stretch",
        key="keyword_trends",
    )


TOTALS_NOTE: Final = (
    "Region and category totals count each video once; with a modality filter, the videos with a mention in a "
    "chosen modality."
)


def engagement_view(source: Source, filters: Filters) -> None:
    """The original dashboard's four charts, over the live store."""
    st.header("Engagement")
    st.caption(f"{describe(filters)}. {TOTALS_NOTE} The top N regions and categories by videos.")
    keywords = data.top_keywords(source.url, source.version, filters)
    left, right = st.columns(2)
    left.plotly_chart(charts.top_keywords_chart(keywords), width="stretch", key="engagement_top")
    regions = data.by_region(source.url, source.version, filters)
    right.plotly_chart(charts.region_map(regions), width="stretch", key="engagement_map")
    left, right = st.columns(2)
    left.plotly_chart(charts.virality_discussion_chart(keywords), width="stretch", key="engagement_scatter")
    categories = data.by_category(source.url, source.version, filters)
    right.plotly_chart(charts.category_chart(categories), width="stretch", key="engagement_category")


MAP_FIGURES: Final = {
    "videos": "videos",
    "views": "views",
    "engagement rate": "engagement_rate",
    "engagement": "engagement",
}


def regions_view(source: Source, filters: Filters) -> None:
    """Every region on a world map, with one figure chosen by the reader."""
    st.header("Regions")
    st.caption(f"{describe(filters)}. {TOTALS_NOTE} The top N regions by videos.")
    label = str(st.radio("Figure", list(MAP_FIGURES), horizontal=True, key="map_figure"))
    frame = charts.engagement_columns(data.by_region(source.url, source.version, filters))
    figure = charts.region_map(frame, MAP_FIGURES[label], f"{label.capitalize()} by region")
    st.plotly_chart(figure, width="stretch", key="region_map")
    st.dataframe(frame, hide_index=True, width="stretch", key="region_table")
    unmapped = sorted(set(frame["region"]) - set(country_names()))
    if unmapped:
        st.caption(f"Not on the map (no country code): {', '.join(unmapped)}.")


def health_view(source: Source, filters: Filters) -> None:
    """What the pipeline did: runs, volumes, quarantine and stage timings (the last top-N runs)."""
    st.header("Pipeline health")
    st.caption(f"The last {filters.top_n} runs (region, category, modality and day filters do not apply here).")
    runs = data.runs(source.url, source.version, filters.top_n)
    if runs.empty:
        st.info("No run has been recorded yet: `tiktrend run` records one.")
        return
    st.dataframe(runs, hide_index=True, width="stretch", key="runs_table")
    figures = data.run_figures(source.url, source.version, filters.top_n)
    left, right = st.columns(2)
    left.plotly_chart(charts.volume_chart(figures.volumes), width="stretch", key="runs_volumes")
    right.plotly_chart(charts.stage_timings_chart(figures.timings), width="stretch", key="runs_timings")
    st.subheader("Quarantine")
    quarantine = data.quarantine(source.url, source.version)
    if quarantine.empty:
        st.caption("No record has been quarantined.")
    else:
        st.dataframe(quarantine, hide_index=True, width="stretch", key="quarantine_table")


BACKTEST_FIGURES: Final = ("f1", "precision", "recall", "lead_median", "false_positive_rate", "auc")


def backtest_view(source: Source, filters: Filters) -> None:
    """The detectors' figures in the backtest reports that ``tiktrend backtest --out`` wrote."""
    st.header("Backtests")
    st.caption("The sidebar's filters do not apply here: each report holds its own data, range and detectors.")
    results = data.backtests(source.reports_dir)
    if results.empty:
        st.info(
            f"No backtest report under `{source.reports_dir}`. Run `tiktrend backtest --simulate "
            f"--out {source.reports_dir}/sim` (or `tiktrend backtest --out {source.reports_dir}/store` on the "
            "store's history), then reload; `TIKTREND_REPORTS_DIR` names another folder."
        )
        return
    reports = list(dict.fromkeys(results["report"]))
    report = st.selectbox("Report", reports, key="backtest_report")
    chosen = results[results["report"] == report]
    st.caption(
        f"{chosen['title'].iloc[0]}; {chosen['grain'].iloc[0]} buckets, {chosen['start'].iloc[0]} to "
        f"{chosen['end'].iloc[0]}"
    )
    metric = str(st.radio("Figure", BACKTEST_FIGURES, horizontal=True, key="backtest_metric"))
    st.plotly_chart(charts.backtest_chart(chosen, metric), width="stretch", key="backtest_chart")
    st.dataframe(chosen.drop(columns=["report", "title"]), hide_index=True, width="stretch", key="backtest_table")


RENDERERS: Final[dict[str, Callable[[Source, Filters], None]]] = {
    "Trending now": trending_view,
    "Keyword": keyword_view,
    "Engagement": engagement_view,
    "Regions": regions_view,
    "Pipeline health": health_view,
    "Backtests": backtest_view,
}

main()
