"""Frames as HTTP responses: JSON by default, CSV or Parquet when the ``format`` parameter or Accept header asks."""

from __future__ import annotations

import io
from enum import StrEnum
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import Request, Response

PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet")


class Format(StrEnum):
    """What a list can be downloaded as."""

    json = "json"
    csv = "csv"
    parquet = "parquet"


def chosen_format(request: Request, asked: Format | None) -> Format:
    """The ``format`` parameter, else the Accept header (text/csv, Parquet), else JSON."""
    if asked is not None:
        return asked
    return accepted_format(request.headers.get("accept", ""))


def accepted_format(accept: str) -> Format:
    """The format an Accept header asks for: CSV, Parquet, else JSON (what the response cache keys on)."""
    if "text/csv" in accept:
        return Format.csv
    if any(kind in accept for kind in PARQUET_TYPES):
        return Format.parquet
    return Format.json


def records_json(frame: pd.DataFrame) -> str:
    """A frame as a JSON array of objects: ISO times, null for missing values."""
    if frame.empty:
        return "[]"
    text: str = frame.to_json(orient="records", date_format="iso", date_unit="ms", force_ascii=False)
    return text


def download(frame: pd.DataFrame, kind: Format, name: str) -> Response:
    """A frame as a CSV or Parquet file to download."""
    if kind is Format.csv:
        return Response(
            frame.to_csv(index=False),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    return Response(
        buffer.getvalue(),
        media_type=PARQUET_TYPES[0],
        headers={"Content-Disposition": f'attachment; filename="{name}.parquet"'},
    )


def json_body(**parts: Any) -> Response:
    """A JSON object whose values are ready JSON texts (frames serialized once, not through dicts)."""
    body = "{" + ",".join(f'"{key}":{value}' for key, value in parts.items()) + "}"
    return Response(body, media_type="application/json")
