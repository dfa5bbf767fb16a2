"""The Spark engine of extraction: the same pure ``extract_mentions`` run by ``mapInPandas`` over Arrow batches.

Rows are repartitioned by ``video_id`` so that every observation of a video meets the same call, and sorted
by their input position inside a partition, so the first spelling seen (the display) is the one the pandas
engine sees: both engines give identical mention frames (tested on the shared data). A partition's batches
are concatenated before extraction, so Arrow's batch size never splits a video's observations.

The session binds to 127.0.0.1, runs the workers with the running interpreter (``PYSPARK_PYTHON``) and has
Arrow on; ``local[*]`` by default, any master URL otherwise.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from tiktrend.extract.keywords import _INPUT_COLUMNS, extract_mentions
from tiktrend.models import MENTION_COLUMNS

ROW = "_row"
COLUMNS = (*_INPUT_COLUMNS, "transcript")
INPUT_SCHEMA = (
    "video_id string, caption string, hashtags array<string>, music_title string, music_author string, "
    f"music_original boolean, transcript string, {ROW} long"
)
MENTION_SCHEMA = "video_id string, keyword string, display string, modality string, weight double, is_generic boolean"


def spark_session(master: str = "local[*]", *, app: str = "tiktrend-extract", partitions: int | None = None) -> Any:
    """A Spark session bound to 127.0.0.1 with Arrow on and workers on this interpreter."""
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName(app)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(partitions or max(2, 2 * (os.cpu_count() or 1))))
    )
    return builder.getOrCreate()


def spark_input(videos: pd.DataFrame) -> pd.DataFrame:
    """The extraction input columns of a videos frame in Spark-friendly types, with each row's position."""
    frame = pd.DataFrame(index=range(len(videos)))
    for column in COLUMNS:
        values = videos[column].tolist() if column in videos.columns else [None] * len(videos)
        frame[column] = pd.Series(values, dtype=object)
    frame["video_id"] = frame["video_id"].map(str)
    frame["hashtags"] = [
        [tag for tag in value if isinstance(tag, str)] if isinstance(value, list | tuple | np.ndarray) else []
        for value in frame["hashtags"]
    ]
    for column in ("caption", "music_title", "music_author", "transcript"):
        frame[column] = [value if isinstance(value, str) else None for value in frame[column]]
    frame["music_original"] = [bool(v) if isinstance(v, bool | np.bool_) else None for v in frame["music_original"]]
    frame[ROW] = np.arange(len(frame), dtype=np.int64)
    return frame


def _extract_partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    frames = list(batches)
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True).sort_values(ROW, kind="stable")
    if not frame.empty:
        yield extract_mentions(frame)


def extract_frame(videos: Any, partitions: int | None = None) -> Any:
    """Mentions of a Spark DataFrame of ``INPUT_SCHEMA`` rows, as a Spark DataFrame of ``MENTION_SCHEMA``."""
    spread = videos.repartition(partitions, "video_id") if partitions else videos.repartition("video_id")
    return spread.sortWithinPartitions(ROW).mapInPandas(_extract_partition, MENTION_SCHEMA)


def extract_mentions_spark(spark: Any, videos: pd.DataFrame, partitions: int | None = None) -> pd.DataFrame:
    """``extract_mentions`` of a pandas videos frame computed by Spark: the same frame, row for row."""
    frame = spark.createDataFrame(spark_input(videos), schema=INPUT_SCHEMA)
    out: pd.DataFrame = extract_frame(frame, partitions).toPandas()
    out = out.sort_values(["video_id", "modality", "keyword"], kind="stable").reset_index(drop=True)
    for column in ("video_id", "keyword", "display", "modality"):
        out[column] = out[column].astype("str")
    out["is_generic"] = out["is_generic"].astype(bool)
    return out[list(MENTION_COLUMNS)]
