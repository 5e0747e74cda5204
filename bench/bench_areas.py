"""Point → grid look-up at 10,000 grids.

Builds a 100 × 100 tiling of grids (one city, district, street, 100 communities of 100 grids each;
every fourth grid a non-rectangular pentagon pair so prepared-polygon tests are exercised too) in a
temporary SQLite database, then measures:

- look-ups per second through ``areas.service.locate`` with the index warm, against a raw shapely
  STRtree query + ``contains`` loop over the same polygons in the same run;
- the index build (read from the database and build) against a bare STRtree build over the same
  GeoJSON texts.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

import shapely
from shapely import STRtree

N = 100
X0, Y0, STEP = 121.0, 31.0, 0.005
LOOKUPS = 200_000


def _tiles() -> list[tuple[str, str, dict]]:
    """(code, community code, geometry) for the N × N grids; pairs of tiles in every other column
    of every other row are split along a bent line instead of the straight edge."""
    out = []
    for row in range(N):
        community = f"310101002{row + 1:03d}"
        y0, y1 = Y0 + row * STEP, Y0 + (row + 1) * STEP
        for col in range(N):
            x0, x1 = X0 + col * STEP, X0 + (col + 1) * STEP
            bent = row % 2 == 0 and col % 4 in (0, 1)
            mid_y = (y0 + y1) / 2
            if bent and col % 4 == 0:  # left tile with a notch into its right neighbour
                ring = [[x0, y0], [x1, y0], [x1, mid_y], [x1 + STEP / 3, mid_y], [x1, y1], [x0, y1], [x0, y0]]
            elif bent:  # right tile giving up that notch
                ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0 + STEP / 3, mid_y], [x0, mid_y], [x0, y0]]
            else:
                ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
            out.append((f"{community}{col + 1:03d}", community, {"type": "Polygon", "coordinates": [ring]}))
    return out


def run(report) -> None:  # type: ignore[no-untyped-def]
    import yiwang.models  # noqa: F401 - every table
    from yiwang.areas import locator, repository
    from yiwang.areas import service as areas_service
    from yiwang.areas.models import Area
    from yiwang.core.db import Base, Database
    from yiwang.core.settings import Settings

    tiles = _tiles()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(Settings(var_dir=Path(tmp), env="test", log_level="WARNING"))
        Base.metadata.create_all(db.engine, tables=[Area.__table__, Area.metadata.tables["area_versions"]])
        full = (X0, Y0, X0 + N * STEP, Y0 + N * STEP)
        rect = {"type": "Polygon", "coordinates": [[[full[0], full[1]], [full[2], full[1]], [full[2], full[3]],
                                                    [full[0], full[3]], [full[0], full[1]]]]}

        def row(code: str, level: str, parent: str | None, depth: int, geometry: dict) -> dict:
            g = shapely.from_geojson(json.dumps(geometry))
            minx, miny, maxx, maxy = g.bounds
            c = g.representative_point() if not g.covers(g.centroid) else g.centroid
            return {"code": code, "name": code, "level": level, "parent_code": parent, "depth": depth,
                    "boundary": json.dumps(geometry), "min_lon": minx, "min_lat": miny, "max_lon": maxx,
                    "max_lat": maxy, "centroid_lon": c.x, "centroid_lat": c.y}

        rows = [row("31", "city", None, 0, rect), row("310101", "district", "31", 1, rect),
                row("310101002", "street", "310101", 2, rect)]
        for r in range(N):
            y0, y1 = Y0 + r * STEP, Y0 + (r + 1) * STEP
            rows.append(row(f"310101002{r + 1:03d}", "community", "310101002", 3, {
                "type": "Polygon", "coordinates": [[[full[0], y0], [full[2], y0], [full[2], y1], [full[0], y1],
                                                    [full[0], y0]]]}))
        rows += [row(code, "grid", community, 4, geometry) for code, community, geometry in tiles]
        with db.transaction() as session:
            repository.insert_areas(session, rows)
            repository.bump_version(session)

        rng = random.Random(7)
        pad = STEP * 2
        points = [(rng.uniform(full[0] - pad, full[2] + pad), rng.uniform(full[1] - pad, full[3] + pad))
                  for _ in range(LOOKUPS)]

        # -- index build ---------------------------------------------------------------------------
        with db.transaction(write=False) as session:
            started = time.perf_counter()
            locator.build(session)
            build_s = time.perf_counter() - started
        texts = [json.dumps(g) for _, _, g in tiles]
        started = time.perf_counter()
        base_geoms = shapely.from_geojson(texts)
        tree = STRtree(base_geoms)
        shapely.prepare(base_geoms)
        base_build_s = time.perf_counter() - started
        report("index build (10k grids, from the DB)", build_s * 1000, "ms", "STRtree build from GeoJSON",
               base_build_s * 1000, target="≤ 1000 ms", higher_is_better=False)

        # -- look-ups ------------------------------------------------------------------------------
        codes = [code for code, _, _ in tiles]
        with db.transaction(write=False) as session:
            areas_service.locate(session, *points[0])  # warm the index
            found = 0
            started = time.perf_counter()
            for lon, lat in points:
                if areas_service.locate(session, lon, lat) is not None:
                    found += 1
            ours = LOOKUPS / (time.perf_counter() - started)

        base_found = 0
        started = time.perf_counter()
        for lon, lat in points:
            pt = shapely.Point(lon, lat)
            hit = None
            for i in tree.query(pt):
                if base_geoms[i].contains(pt):
                    hit = codes[i]
                    break
            if hit is not None:
                base_found += 1
        baseline = LOOKUPS / (time.perf_counter() - started)
        if abs(found - base_found) > LOOKUPS // 1000:  # only points exactly on edges may differ
            raise AssertionError(f"locate found {found} points in grids, the baseline {base_found}")
        report("locate (10k grids, warm)", ours, "look-ups/s", "raw STRtree query + contains", baseline,
               target="≥ 50,000 look-ups/s")
        db.dispose()
