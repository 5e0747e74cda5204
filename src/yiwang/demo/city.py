"""The demo geography: a Shanghai-like city 上海市 (31) with its 16 real districts (GB/T 2260 codes
and names), 3–5 real streets or towns each, two communities per street and a 2 × 2 block of grids
per community, with simplified boundaries that tile their parents; and the departments of the city,
of each district, and a street office per street.

Boundaries are simplified shapes (rectangles and L-shapes) placed around each district's real
location in WGS-84; they do not overlap and each level tiles its parent exactly, so every grid's
centroid locates to that grid. Everything goes through the areas service's imports, as SYSTEM.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, box, mapping
from shapely.geometry import shape as to_shape
from sqlalchemy.orm import Session

from yiwang.areas import errors
from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM

CITY_CODE = "31"
CITY_NAME = "上海市"
CITY_BOX = (120.90, 30.70, 121.95, 31.80)

Ring = list[tuple[float, float]]


def _rect(x0: float, y0: float, x1: float, y1: float) -> Ring:
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]


#: code → (name, outline as one ring of (lon, lat)). Rough real positions; no overlaps.
DISTRICTS: dict[str, tuple[str, Ring]] = {
    "310101": ("黄浦区", _rect(121.47, 31.19, 121.51, 31.245)),
    "310104": ("徐汇区", _rect(121.42, 31.12, 121.47, 31.22)),
    "310105": ("长宁区", _rect(121.33, 31.19, 121.42, 31.235)),
    "310106": ("静安区", _rect(121.42, 31.22, 121.47, 31.30)),
    "310107": ("普陀区", _rect(121.33, 31.235, 121.42, 31.29)),
    "310109": ("虹口区", _rect(121.47, 31.245, 121.51, 31.30)),
    "310110": ("杨浦区", _rect(121.51, 31.25, 121.56, 31.32)),
    "310112": ("闵行区", [(121.28, 31.00), (121.47, 31.00), (121.47, 31.12), (121.42, 31.12), (121.42, 31.19),
                        (121.28, 31.19), (121.28, 31.00)]),
    "310113": ("宝山区", _rect(121.33, 31.30, 121.51, 31.50)),
    "310114": ("嘉定区", _rect(121.10, 31.25, 121.33, 31.45)),
    "310115": ("浦东新区", [(121.51, 30.85), (121.95, 30.85), (121.95, 31.38), (121.56, 31.38), (121.56, 31.25),
                         (121.51, 31.25), (121.51, 30.85)]),
    "310116": ("金山区", _rect(121.00, 30.70, 121.35, 30.90)),
    "310117": ("松江区", _rect(121.00, 30.90, 121.28, 31.05)),
    "310118": ("青浦区", _rect(120.90, 31.05, 121.28, 31.25)),
    "310120": ("奉贤区", [(121.35, 30.70), (121.95, 30.70), (121.95, 30.85), (121.51, 30.85), (121.51, 31.00),
                        (121.35, 31.00), (121.35, 30.70)]),
    "310151": ("崇明区", _rect(121.30, 31.50, 121.95, 31.80)),
}

#: district code → [(street code, name)] — real streets and towns (GB/T 2260 extensions).
STREETS: dict[str, list[tuple[str, str]]] = {
    "310101": [("310101002", "南京东路街道"), ("310101013", "外滩街道"), ("310101018", "豫园街道"),
               ("310101021", "打浦桥街道"), ("310101022", "淮海中路街道")],
    "310104": [("310104003", "天平路街道"), ("310104004", "湖南路街道"), ("310104011", "田林街道"),
               ("310104014", "徐家汇街道"), ("310104016", "龙华街道")],
    "310105": [("310105001", "华阳路街道"), ("310105002", "江苏路街道"), ("310105005", "新华路街道"),
               ("310105009", "虹桥街道")],
    "310106": [("310106006", "江宁路街道"), ("310106012", "南京西路街道"), ("310106013", "静安寺街道"),
               ("310106019", "大宁路街道"), ("310106020", "彭浦新村街道")],
    "310107": [("310107005", "曹杨新村街道"), ("310107014", "长风新村街道"), ("310107015", "长寿路街道"),
               ("310107020", "宜川路街道")],
    "310109": [("310109009", "欧阳路街道"), ("310109010", "曲阳路街道"), ("310109017", "四川北路街道"),
               ("310109018", "北外滩街道")],
    "310110": [("310110006", "平凉路街道"), ("310110009", "四平路街道"), ("310110012", "控江路街道"),
               ("310110019", "五角场街道"), ("310110020", "新江湾城街道")],
    "310112": [("310112001", "江川路街道"), ("310112006", "古美街道"), ("310112008", "新虹街道"),
               ("310112101", "莘庄镇"), ("310112102", "七宝镇")],
    "310113": [("310113003", "友谊路街道"), ("310113007", "吴淞街道"), ("310113008", "张庙街道"),
               ("310113102", "大场镇"), ("310113109", "顾村镇")],
    "310114": [("310114001", "新成路街道"), ("310114002", "真新街道"), ("310114004", "嘉定镇街道"),
               ("310114102", "南翔镇"), ("310114103", "安亭镇")],
    "310115": [("310115004", "潍坊新村街道"), ("310115005", "陆家嘴街道"), ("310115016", "花木街道"),
               ("310115103", "川沙新镇"), ("310115125", "张江镇")],
    "310116": [("310116001", "石化街道"), ("310116101", "朱泾镇"), ("310116102", "枫泾镇"),
               ("310116113", "山阳镇")],
    "310117": [("310117001", "岳阳街道"), ("310117002", "永丰街道"), ("310117003", "方松街道"),
               ("310117004", "中山街道"), ("310117102", "泗泾镇")],
    "310118": [("310118001", "夏阳街道"), ("310118002", "盈浦街道"), ("310118003", "香花桥街道"),
               ("310118102", "朱家角镇"), ("310118106", "徐泾镇")],
    "310120": [("310120001", "西渡街道"), ("310120002", "奉浦街道"), ("310120003", "金海街道"),
               ("310120101", "南桥镇")],
    "310151": [("310151101", "城桥镇"), ("310151102", "堡镇"), ("310151110", "陈家镇"),
               ("310151116", "长兴镇")],
}

COMMUNITIES_PER_STREET = 2
GRID_COLUMNS, GRID_ROWS = 2, 2
_ORDINALS = "一二三四五六七八九十"

#: (code suffix, name, kind) of the city's departments.
CITY_DEPARTMENTS = [
    ("SCJG", "上海市市场监督管理局", "bureau"),
    ("WJW", "上海市卫生健康委员会", "commission"),
    ("LHSR", "上海市绿化和市容管理局", "bureau"),
    ("SWJ", "上海市水务局", "bureau"),
    ("CGZF", "上海市城市管理行政执法局", "bureau"),
    ("GAJ", "上海市公安局", "police"),
    ("XFJY", "上海市消防救援总队", "fire_rescue"),
    ("ZJW", "上海市住房和城乡建设管理委员会", "commission"),
    ("12345", "上海市12345市民服务热线", "hotline"),
    ("CYZX", "上海市城市运行管理中心", "ops_centre"),
    ("SJJ", "上海市数据局", "bureau"),
]

#: (code suffix, name pattern, kind, parent suffix in the city) of each district's departments.
DISTRICT_DEPARTMENTS = [
    ("SCJG", "{d}市场监督管理局", "bureau", "SCJG"),
    ("WJW", "{d}卫生健康委员会", "commission", "WJW"),
    ("LHSR", "{d}绿化和市容管理局", "bureau", "LHSR"),
    ("SWJ", "{d}水务局", "bureau", "SWJ"),
    ("CGZF", "{d}城市管理行政执法局", "bureau", "CGZF"),
    ("GAFJ", "上海市公安局{d}分局", "police", "GAJ"),
    ("XFJY", "上海市{d}消防救援支队", "fire_rescue", "XFJY"),
    ("ZJW", "{d}建设和管理委员会", "commission", "ZJW"),
    ("CYZX", "{d}城市运行管理中心", "ops_centre", "CYZX"),
]


def _geometry(ring: Ring) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}


def _strips(geom: Any, n: int, *, vertical: bool) -> list[Any]:
    """Split a shape into ``n`` strips of its bounding box (shared edges are identical floats)."""
    x0, y0, x1, y1 = geom.bounds
    edges = [(x0 + (x1 - x0) * i / n) if vertical else (y0 + (y1 - y0) * i / n) for i in range(n)]
    edges.append(x1 if vertical else y1)
    out = []
    for a, b in zip(edges, edges[1:], strict=False):
        cut = box(a, y0, b, y1) if vertical else box(x0, a, x1, b)
        parts = [p for p in shapely.get_parts(geom.intersection(cut)) if p.geom_type == "Polygon" and p.area > 0]
        out.append(parts[0] if len(parts) == 1 else MultiPolygon(parts))
    return out


def _feature(code: str, name: str, level: str, parent: str | None, geom: Any) -> dict[str, Any]:
    geometry = geom if isinstance(geom, dict) else mapping(geom)
    return {"type": "Feature", "geometry": geometry,
            "properties": {"code": code, "name": name, "level": level, "parent_code": parent}}


def _base(street_name: str) -> str:
    for suffix in ("街道", "新镇", "镇"):
        if street_name.endswith(suffix) and len(street_name) > len(suffix):
            return street_name[: -len(suffix)]
    return street_name


def build_features() -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """Every area of the demo city as GeoJSON features (parents first) and the codes by level."""
    features = [_feature(CITY_CODE, CITY_NAME, "city", None, box(*CITY_BOX))]
    codes: dict[str, list[str]] = {"district": [], "street": [], "community": [], "grid": []}
    for dcode, (dname, ring) in DISTRICTS.items():
        dgeom = to_shape(_geometry(ring))
        features.append(_feature(dcode, dname, "district", CITY_CODE, _geometry(ring)))
        codes["district"].append(dcode)
        streets = STREETS[dcode]
        for (scode, sname), sgeom in zip(streets, _strips(dgeom, len(streets), vertical=True), strict=True):
            features.append(_feature(scode, sname, "street", dcode, sgeom))
            codes["street"].append(scode)
            comms = _strips(sgeom, COMMUNITIES_PER_STREET, vertical=False)
            for ci, cgeom in enumerate(comms, start=1):
                ccode = f"{scode}{ci:03d}"
                cname = f"{_base(sname)}第{_ORDINALS[ci - 1]}社区"
                features.append(_feature(ccode, cname, "community", scode, cgeom))
                codes["community"].append(ccode)
                gi = 0
                for column in _strips(cgeom, GRID_COLUMNS, vertical=True):
                    for ggeom in _strips(column, GRID_ROWS, vertical=False):
                        gi += 1
                        gcode = f"{ccode}{gi:03d}"
                        features.append(_feature(gcode, f"{cname}{gi}号网格", "grid", ccode, ggeom))
                        codes["grid"].append(gcode)
    return features, codes


def build_departments_csv() -> str:
    """The departments as the CSV that ``import_departments`` reads (parents first)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["code", "name", "kind", "area_code", "parent_code"])
    for suffix, name, kind in CITY_DEPARTMENTS:
        w.writerow([f"{CITY_CODE}-{suffix}", name, kind, CITY_CODE, ""])
    for dcode, (dname, _) in DISTRICTS.items():
        for suffix, pattern, kind, parent in DISTRICT_DEPARTMENTS:
            w.writerow([f"{dcode}-{suffix}", pattern.format(d=dname), kind, dcode, f"{CITY_CODE}-{parent}"])
        for scode, sname in STREETS[dcode]:
            office = f"{sname}办事处" if sname.endswith("街道") else f"{sname}人民政府"
            w.writerow([f"{scode}-JDB", office, "street_office", scode, ""])
    return out.getvalue()


def load_city(session: Session) -> dict[str, Any]:
    """Create the demo city's areas and departments as SYSTEM (in the caller's transaction).

    Refuses with ``city_exists`` when area 31 is already there, so it never half-loads twice."""
    if areas_service.existing_codes(session, [CITY_CODE]):
        raise errors.CityExists(code=CITY_CODE)
    features, codes = build_features()
    doc = json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)
    areas = areas_service.import_areas(session, SYSTEM, doc, "geojson")
    departments = areas_service.import_departments(session, SYSTEM, build_departments_csv())
    return {
        "counts": {
            "cities": 1,
            "districts": len(codes["district"]),
            "streets": len(codes["street"]),
            "communities": len(codes["community"]),
            "grids": len(codes["grid"]),
            "areas": areas.created,
            "departments": departments.created,
        },
        "city_code": CITY_CODE,
        "district_codes": codes["district"],
        "street_codes": codes["street"],
        "community_codes": codes["community"],
        "grid_codes": codes["grid"],
    }
