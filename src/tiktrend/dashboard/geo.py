"""The world's countries as GeoJSON keyed on ISO 3166-1 alpha-2 codes, from files shipped with the package.

Plotly's geo maps fetch their base map from a CDN, which a machine without internet cannot reach; the
dashboard draws its region map as a choropleth over this geometry with the base map hidden instead.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

# Natural Earth leaves these without an ISO numeric code; Kosovo's user-assigned XK is the one in use.
_UNCODED: dict[str, str] = {"Kosovo": "XK"}


def _read(name: str) -> Any:
    return json.loads(resources.files("tiktrend.dashboard").joinpath("geodata", name).read_text(encoding="utf-8"))


def _decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Absolute (lon, lat) points of every arc of a quantized TopoJSON topology."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((round(x * sx + tx, 3), round(y * sy + ty, 3)))
        arcs.append(points)
    return arcs


def _ring(indexes: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        # A negative index is the one's complement of an arc walked backwards.
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def _coordinates(geometry: dict[str, Any], arcs: list[list[tuple[float, float]]]) -> list[Any]:
    if geometry["type"] == "Polygon":
        return [_ring(ring, arcs) for ring in geometry["arcs"]]
    return [[_ring(ring, arcs) for ring in polygon] for polygon in geometry["arcs"]]


@cache
def world_countries() -> dict[str, Any]:
    """A GeoJSON FeatureCollection of the countries, each feature's ``id`` its alpha-2 code (``US``, ``VN``)."""
    topology = _read("countries-110m.json")
    alpha2 = {numeric: code for code, _alpha3, numeric, _subdivisions in _read("iso3166-codes.json")}
    arcs = _decode_arcs(topology)
    features = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        name = geometry["properties"]["name"]
        code = alpha2.get(geometry.get("id") or "") or _UNCODED.get(name)
        if code is None or geometry["type"] not in ("Polygon", "MultiPolygon"):
            continue
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {"name": name},
                "geometry": {"type": geometry["type"], "coordinates": _coordinates(geometry, arcs)},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def country_names() -> dict[str, str]:
    """Alpha-2 code -> the country's name, for the countries on the map."""
    return {feature["id"]: feature["properties"]["name"] for feature in world_countries()["features"]}
