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


class TestGazetteer:
    """Addresses given as text are placed by the area names they contain."""

    AREAS = [
        AreaRead(code="310101", name="黄浦区", level="district", parent_code="31", depth=1),
        AreaRead(code="310104", name="徐汇区", level="district", parent_code="31", depth=1),
        AreaRead(code="310101002", name="南京东路街道", level="street", parent_code="310101", depth=2),
        AreaRead(code="310101013", name="外滩街道", level="street", parent_code="310101", depth=2),
        AreaRead(code="310104003", name="天平路街道", level="street", parent_code="310104", depth=2),
        AreaRead(code="310101002001", name="新村社区居委会", level="community", parent_code="310101002", depth=3),
        AreaRead(code="310104003001", name="新村社区居委会", level="community", parent_code="310104003", depth=3),
    ]

    def gazetteer(self):
        from yiwang.areas.locator import Gazetteer

        return Gazetteer(self.AREAS)

    def test_the_deepest_area_named_wins(self):
        assert self.gazetteer().match("黄浦区南京东路街道贵州路101号").code == "310101002"

    def test_a_street_without_its_suffix_is_found(self):
        assert self.gazetteer().match("南京东路299号门口").code == "310101002"

    def test_a_district_alone(self):
        assert self.gazetteer().match("徐汇区某小区门口").code == "310104"

    def test_a_shared_name_is_decided_by_the_rest_of_the_address(self):
        assert self.gazetteer().match("徐汇区天平路新村社区3号楼").code == "310104003001"

    def test_a_shared_name_alone_is_ambiguous(self):
        assert self.gazetteer().match("新村3号楼") is None

    def test_nothing_named_is_none(self):
        assert self.gazetteer().match("楼下垃圾没人收") is None
        assert self.gazetteer().match("") is None
