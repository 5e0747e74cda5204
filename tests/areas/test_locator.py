"""The bucket index behind ``locate``, checked against brute force."""

from __future__ import annotations

import random

import shapely
from shapely.geometry import Point, shape

from yiwang.areas.locator import GridIndex
from yiwang.areas.schemas import AreaRead


def grid(code: str) -> AreaRead:
    return AreaRead(code=code, name=code, level="grid", parent_code=code[:12], depth=4)


def tiles(n: int, step: float) -> list[tuple[str, dict]]:
    """n × n tiles; in every other row, pairs of tiles share a bent edge instead of a straight one."""
    out = []
    for r in range(n):
        y0, y1 = 31 + r * step, 31 + (r + 1) * step
        mid = (y0 + y1) / 2
        for c in range(n):
            x0, x1 = 121 + c * step, 121 + (c + 1) * step
            if r % 2 == 0 and c % 2 == 0 and c + 1 < n:
                ring = [[x0, y0], [x1, y0], [x1, mid], [x1 + step / 3, mid], [x1, y1], [x0, y1], [x0, y0]]
            elif r % 2 == 0 and c % 2 == 1:
                ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0 + step / 3, mid], [x0, mid], [x0, y0]]
            else:
                ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
            out.append((f"310101002{r + 1:03d}{c + 1:03d}", {"type": "Polygon", "coordinates": [ring]}))
    return out


class TestGridIndex:
    def test_agrees_with_brute_force(self):
        data = tiles(20, 0.01)
        rng = random.Random(3)
        rng.shuffle(data)  # the index must not depend on input order
        geoms = [shape(g) for _, g in data]
        index = GridIndex("t", [grid(c) for c, _ in data], shapely.from_geojson([shapely.to_geojson(g) for g in geoms]))
        by_code = sorted(zip([c for c, _ in data], geoms, strict=True))
        codes = [c for c, _ in by_code]
        ordered = shapely.from_wkb([g.wkb for _, g in by_code])
        points = [(rng.uniform(120.99, 121.21), rng.uniform(30.99, 31.21)) for _ in range(3000)]
        # Points exactly on shared edges and corners too.
        points += [(121 + 0.01 * rng.randint(0, 20), 31 + 0.005 * rng.randint(0, 40)) for _ in range(300)]

        mismatches = []
        for lon, lat in points:
            hits = shapely.covers(ordered, Point(lon, lat)).nonzero()[0]
            want = codes[hits[0]] if len(hits) else None
            got = index.find(lon, lat)
            if (got.code if got else None) != want:
                mismatches.append((lon, lat, want, got and got.code))
        assert mismatches == []

    def test_empty_index_finds_nothing(self):
        assert GridIndex(None, [], []).find(121.0, 31.0) is None

    def test_one_huge_and_many_small_grids(self):
        big = {"type": "Polygon", "coordinates": [[[100, 20], [130, 20], [130, 50], [100, 50], [100, 20]]]}
        data = [("310101002001999", big)] + tiles(10, 0.001)
        index = GridIndex("t", [grid(c) for c, _ in data], shapely.from_geojson([str(g).replace("'", '"') for _, g in data]))
        assert index.find(121.0005, 31.0005).code == "310101002001001"
        assert index.find(110.0, 40.0).code == "310101002001999"
        assert index.find(90.0, 40.0) is None
        assert len(index.buckets) <= 4 * len(data) + 16
