"""Geometry behind one module: GeoJSON boundaries (validated with shapely 2), bounding boxes,
inner points, and the GCJ-02 ↔ WGS-84 conversion used by phone maps in China."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry

#: A child may stick out of its parent by this share of its own area (surveys disagree by slivers).
OUTSIDE_TOLERANCE = 0.01


class BoundaryError(ValueError):
    """Why a GeoJSON value is not an acceptable boundary: ``msgid`` (a short English reason, also
    the gettext id) with its ``params``; ``str()`` is the English sentence."""

    def __init__(self, msgid: str, **params: Any) -> None:
        super().__init__(msgid.format(**params) if params else msgid)
        self.msgid = msgid
        self.params = params


@dataclass(frozen=True, slots=True)
class Boundary:
    geom: BaseGeometry
    geojson: str
    bbox: tuple[float, float, float, float]
    inner: tuple[float, float]


def _check_ring(ring: Any, polygon: int, index: int) -> None:
    where = {"polygon": polygon, "ring": index}
    if not isinstance(ring, list) or len(ring) < 4:
        raise BoundaryError("ring {ring} of polygon {polygon} needs at least 4 positions", **where)
    for pos in ring:
        if (
            not isinstance(pos, list | tuple)
            or len(pos) < 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
        ):
            raise BoundaryError("ring {ring} of polygon {polygon} has a position that is not [lon, lat]", **where)
        lon, lat = float(pos[0]), float(pos[1])
        if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise BoundaryError("ring {ring} of polygon {polygon} has a position outside WGS-84 ranges", **where)
    if list(ring[0][:2]) != list(ring[-1][:2]):
        raise BoundaryError("ring {ring} of polygon {polygon} is not closed", **where)


def parse_boundary(value: Any) -> Boundary:
    """Validate a GeoJSON Polygon or MultiPolygon (WGS-84) and return it with its derived facts.

    Refuses other types, malformed coordinates, positions outside lon/lat ranges, open rings,
    empty or zero-area shapes and invalid (e.g. self-intersecting) geometry."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise BoundaryError("not JSON") from exc
    if not isinstance(value, dict):
        raise BoundaryError("not a GeoJSON object")
    kind = value.get("type")
    coords = value.get("coordinates")
    if kind not in ("Polygon", "MultiPolygon"):
        raise BoundaryError("type must be Polygon or MultiPolygon")
    if not isinstance(coords, list) or not coords:
        raise BoundaryError("coordinates are missing")
    polygons = [coords] if kind == "Polygon" else coords
    for p, rings in enumerate(polygons):
        if not isinstance(rings, list) or not rings:
            raise BoundaryError("polygon {polygon} has no rings", polygon=p)
        for r, ring in enumerate(rings):
            _check_ring(ring, p, r)
    try:
        geom = shape({"type": kind, "coordinates": coords})
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise BoundaryError("coordinates cannot form a polygon") from exc
    if not isinstance(geom, Polygon | MultiPolygon) or geom.is_empty:
        raise BoundaryError("the polygon is empty")
    if not geom.is_valid:
        raise BoundaryError("the geometry is not valid: {detail}", detail=shapely.is_valid_reason(geom))
    if geom.area <= 0:
        raise BoundaryError("the polygon is empty")
    return Boundary(geom, json.dumps(mapping(geom), separators=(",", ":")), geom.bounds, inner_point(geom))


def inner_point(geom: BaseGeometry) -> tuple[float, float]:
    """The centroid when it lies inside the shape, else a point guaranteed inside."""
    c = geom.centroid
    if not geom.covers(c):
        c = geom.representative_point()
    return (c.x, c.y)


def outside_share(child: BaseGeometry, parent: BaseGeometry) -> float:
    """The share of ``child``'s area that lies outside ``parent`` (0 … 1)."""
    if parent.covers(child):
        return 0.0
    return child.difference(parent).area / child.area


def load(geojson: str) -> BaseGeometry:
    return shapely.from_geojson(geojson)


def load_many(texts: list[str]) -> Any:
    """An array of geometries from GeoJSON texts (vectorised)."""
    return shapely.from_geojson(texts)


def are_bboxes(geoms: Any, bounds: Any) -> Any:
    """For an array of geometries (and their ``shapely.bounds``): which are exactly their own
    bounding box — single polygons of 5 positions, no holes, whose area equals the box's."""
    box_area = (bounds[:, 2] - bounds[:, 0]) * (bounds[:, 3] - bounds[:, 1])
    return (
        (shapely.get_type_id(geoms) == 3)
        & (shapely.get_num_coordinates(geoms) == 5)
        & (shapely.get_num_interior_rings(geoms) == 0)
        & (abs(shapely.area(geoms) - box_area) <= 1e-12 * box_area)
    )


def is_bbox(geom: BaseGeometry) -> bool:
    """True when the shape is exactly its own bounding box (an axis-aligned rectangle)."""
    return isinstance(geom, Polygon) and not geom.interiors and geom.equals(box(*geom.bounds))


# -- GCJ-02 (the obfuscated datum of Chinese phone maps) ---------------------------------------------
# The forward transform is the widely published one; the inverse has no closed form, so it is solved
# by fixed-point iteration (each step moves the estimate by the forward error), which converges to
# well under a millimetre in a handful of steps.

_A = 6378245.0
_EE = 0.00669342162296594323


def out_of_china(lon: float, lat: float) -> bool:
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _d_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _d_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (unchanged outside China)."""
    if out_of_china(lon, lat):
        return lon, lat
    dlat = _d_lat(lon - 105.0, lat - 35.0)
    dlon = _d_lon(lon - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sqrt_magic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * math.cos(rad) * math.pi)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: float, lat: float, *, tolerance: float = 1e-10, max_steps: int = 30) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by iterating the forward transform (error ≪ 1 cm)."""
    if out_of_china(lon, lat):
        return lon, lat
    w_lon, w_lat = lon, lat
    for _ in range(max_steps):
        g_lon, g_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = g_lon - lon, g_lat - lat
        w_lon -= e_lon
        w_lat -= e_lat
        if abs(e_lon) < tolerance and abs(e_lat) < tolerance:
            break
    return w_lon, w_lat


# -- a small server-side map ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SvgShape:
    code: str
    name: str
    d: str
    """The SVG path (``M … Z`` per ring; draw with ``fill-rule="evenodd"``)."""


@dataclass(frozen=True, slots=True)
class SvgMap:
    width: int
    height: int
    shapes: list[SvgShape]
    outline: str | None


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry.get("type") == "Polygon":
        return list(geometry["coordinates"])
    if geometry.get("type") == "MultiPolygon":
        return [ring for poly in geometry["coordinates"] for ring in poly]
    return []


def svg_map(
    outline: dict[str, Any] | None, shapes: list[tuple[str, str, dict[str, Any]]], width: int = 480
) -> SvgMap | None:
    """Project boundaries (an outline and (code, name, geometry) shapes) onto an SVG canvas of
    ``width`` pixels: equirectangular, x scaled by cos(latitude), y pointing down. None if empty."""
    rings_all = [r for _, _, g in shapes for r in _rings(g)] + (_rings(outline) if outline else [])
    points = [p for r in rings_all for p in r]
    if not points:
        return None
    x0 = min(p[0] for p in points)
    x1 = max(p[0] for p in points)
    y0 = min(p[1] for p in points)
    y1 = max(p[1] for p in points)
    kx = math.cos(math.radians((y0 + y1) / 2))
    span_x = max((x1 - x0) * kx, 1e-9)
    span_y = max(y1 - y0, 1e-9)
    pad = 4
    scale = (width - 2 * pad) / max(span_x, span_y)
    height = int(round(span_y * scale)) + 2 * pad

    def path(geometry: dict[str, Any]) -> str:
        parts = []
        for ring in _rings(geometry):
            pts = " ".join(f"{pad + (p[0] - x0) * kx * scale:.1f},{pad + (y1 - p[1]) * scale:.1f}" for p in ring)
            parts.append(f"M{pts}Z")
        return "".join(parts)

    return SvgMap(
        width=int(round(span_x * scale)) + 2 * pad,
        height=height,
        shapes=[SvgShape(code, name, path(g)) for code, name, g in shapes],
        outline=path(outline) if outline else None,
    )
