"""The demo's data catalogue and open data (政务信息资源目录 and 公共数据开放): a few hundred
resources across the demo city's departments, tables that open through the gate, and everything
around them — all through :mod:`yiwang.datacat.service`, as the departments' demo data officers
(``dataofficer.<department>``) or, for district departments, as SYSTEM.

:func:`build_plan` is pure: it decides every resource (metadata, graded fields, what happens to it,
and how to make its table), seeded, so the same seed gives the same catalogue. :func:`load_datacat`
carries a plan out. What the full plan holds (default, :data:`FULL`):

- per district: bus stops, a year of daily air quality, public toilets and parking lots — open,
  with real-looking tables (points inside the district's demo boundary);
- city-wide open tables: service halls, libraries, hospitals, schools, charging stations, newly
  registered companies, parks, sports venues, care homes, markets, fire stations …;
- 有条件开放 resources that open, one access request pending and one approved;
- tables the gate refuses (valid resident ID numbers in a column; mobiles left in free text), kept
  ``refused`` with their report;
- tables that pass only thanks to recorded steps (a masked contact phone, birth date → year, an
  address → its district);
- open resources whose daily or real-time update is late (their timestamps moved back, as the demo
  may: nothing in the service sets a past update time);
- catalogue entries without data, every grade from 一般 1 to 核心, every topic, update cycle and
  opening attribute;
- demands in every state from the public and from departments, and a grant between departments.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from shapely.geometry import Point, Polygon
from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.core.actor import SYSTEM, Actor
from yiwang.core.db import utcnow
from yiwang.core.validators import resident_id_check_char
from yiwang.datacat import service as datacat_service
from yiwang.datacat.schemas import TOPICS, UPDATE_CYCLE_NAMES, FieldIn, ResourceIn
from yiwang.demo.city import CITY_CODE, DISTRICTS, STREETS
from yiwang.demo.staff import load_datacat_staff
from yiwang.identity import service as identity_service

FULL = 10_000
"""``datasets`` for the whole plan (larger than it: every resource is loaded)."""
CITY_AREA = "310000"
"""The area part of a city-wide resource's code (上海市's GB/T 2260 code)."""

#: Departments the open data needs that the demo city lacks: (code suffix, name, kind).
EXTRA_DEPARTMENTS = [
    ("JTW", "上海市交通委员会", "commission"),
    ("STHJ", "上海市生态环境局", "bureau"),
    ("JW", "上海市教育委员会", "commission"),
    ("WHLY", "上海市文化和旅游局", "bureau"),
    ("MZJ", "上海市民政局", "bureau"),
    ("GHZY", "上海市规划和自然资源局", "bureau"),
    ("RSJ", "上海市人力资源和社会保障局", "bureau"),
]
#: City departments with a demo data officer ``dataofficer.<suffix>`` (数据局's is ``dataofficer``).
OFFICER_DEPARTMENTS = ("JTW", "STHJ", "JW", "WHLY", "MZJ", "GHZY", "RSJ", "SCJG", "WJW", "LHSR", "SWJ", "GAJ",
                       "XFJY", "ZJW", "CYZX", "CGZF", "12345")
#: District departments with a demo data officer ``dataofficer.<district>.<suffix>`` (they open tables;
#: the districts' other departments' catalogue entries are made as SYSTEM).
DISTRICT_OFFICER_DEPARTMENTS = ("LHSR",)
#: Department suffix → the letters of its resources' codes (``310101-JT-00012``).
ABBR = {"JTW": "JT", "STHJ": "HJ", "JW": "JY", "WHLY": "WL", "MZJ": "MZ", "GHZY": "GH", "RSJ": "RS", "SCJG": "SC",
        "WJW": "WJ", "LHSR": "LH", "SWJ": "SW", "GAJ": "GA", "GAFJ": "GA", "XFJY": "XF", "ZJW": "ZJ", "CYZX": "CY",
        "CGZF": "CG", "12345": "RX", "SJJ": "SJ"}
SLUGS = {"310101": "huangpu", "310104": "xuhui", "310105": "changning", "310106": "jingan", "310107": "putuo",
         "310109": "hongkou", "310110": "yangpu", "310112": "minhang", "310113": "baoshan", "310114": "jiading",
         "310115": "pudong", "310116": "jinshan", "310117": "songjiang", "310118": "qingpu", "310120": "fengxian",
         "310151": "chongming"}
ROADS = {
    "310101": ["南京东路", "河南中路", "福州路", "延安东路", "四川中路", "西藏南路", "淮海中路", "复兴东路"],
    "310104": ["漕溪北路", "天钥桥路", "肇嘉浜路", "衡山路", "龙华中路", "田林路", "宜山路"],
    "310105": ["长宁路", "愚园路", "延安西路", "虹桥路", "天山路", "仙霞路", "娄山关路"],
    "310106": ["江宁路", "南京西路", "新闸路", "延长中路", "共和新路", "大宁路", "万荣路"],
    "310107": ["武宁路", "曹杨路", "长寿路", "中山北路", "真北路", "金沙江路", "光新路"],
    "310109": ["四川北路", "东江湾路", "欧阳路", "曲阳路", "大连西路", "海宁路", "溧阳路"],
    "310110": ["四平路", "控江路", "国权路", "平凉路", "黄兴路", "淞沪路", "长阳路"],
    "310112": ["莘松路", "七莘路", "沪闵路", "虹井路", "古美路", "都市路", "剑川路"],
    "310113": ["牡丹江路", "友谊路", "同济路", "宝杨路", "共康路", "长江西路", "沪太路"],
    "310114": ["博乐路", "塔城路", "城中路", "墨玉南路", "沪宜公路", "曹安公路", "嘉松北路"],
    "310115": ["张杨路", "浦东南路", "世纪大道", "锦绣路", "东方路", "杨高中路", "川沙路", "张江路"],
    "310116": ["卫零路", "石化一路", "朱泾南圩路", "亭枫公路", "龙皓路", "金山大道"],
    "310117": ["人民北路", "中山中路", "荣乐东路", "新松江路", "九亭大街", "泗通路"],
    "310118": ["公园路", "城中东路", "华新路", "崧泽大道", "漕盈路", "沪青平公路"],
    "310120": ["南桥路", "解放东路", "环城东路", "金海公路", "百齐路", "望园路"],
    "310151": ["城桥路", "八一路", "人民路", "北沿公路", "陈海公路", "长兴江南大道"],
}
BUS_ROUTES = ["20路", "71路", "隧道三线", "49路", "911路", "104路", "167路", "123路", "572路", "989路", "浦东2路",
              "松江12路", "嘉定4路", "奉贤3路", "崇明南堡线", "金山卫专线", "青浦1路", "闵行22路", "宝山5路"]
AQI_LEVELS = [(50, "优"), (100, "良"), (150, "轻度污染"), (200, "中度污染"), (300, "重度污染"), (999, "严重污染")]
BRANDS = ["启明", "瑞丰", "华信", "博远", "申诚", "联创", "恒达", "新锐", "弘毅", "德润", "汇智", "嘉禾", "云帆",
          "鼎盛", "明德", "远航", "宏图", "金桥", "晨光", "锦程", "睿思", "泰和", "鑫源", "凯越"]
INDUSTRIES = [("信息传输、软件和信息技术服务业", "信息科技"), ("批发和零售业", "贸易"), ("科学研究和技术服务业", "技术"),
              ("租赁和商务服务业", "企业管理咨询"), ("制造业", "智能装备"), ("住宿和餐饮业", "餐饮管理"),
              ("文化、体育和娱乐业", "文化传播"), ("建筑业", "建设工程"), ("交通运输、仓储和邮政业", "物流"),
              ("金融业", "投资管理")]
HOURS = ["周一至周五 9:00-17:00", "周一至周六 9:00-17:00", "周一至周日 8:30-20:30", "全天开放", "周二至周日 9:00-21:00"]
PHONE_PREFIX = "021-"

Row = dict[str, Any]
Table = Callable[[random.Random], tuple[str, list[Row]]]
"""Makes a table's rows (and says the upload's format: ``CSV``, ``XLSX`` or ``JSON``)."""


# -- what is planned ---------------------------------------------------------------------------
@dataclass
class Planned:
    """One resource of the plan and what happens to it."""

    data: ResourceIn
    department: str
    """The provider's department code (``31-JTW``, ``310101-LHSR``)."""
    fate: str
    """``catalogue`` (no data), ``open``, ``steps`` (opens thanks to recorded steps), ``refused``
    (the gate refuses it), ``late`` (open, then its update is late)."""
    table: Table | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    must: bool = False
    """Kept at every size (each kind of resource the demo shows)."""

    @property
    def opens(self) -> bool:
        return self.fate in ("open", "steps", "late")


def _f(name: str, title: str, type_: str = "text", grade: str = "general", level: int = 1, *,
       qi: bool = False) -> FieldIn:
    return FieldIn(name=name, title=title, type=type_, grade=grade, level=level, quasi_identifier=qi)  # type: ignore[arg-type]


class _Codes:
    def __init__(self) -> None:
        self.seq: Counter[str] = Counter()

    def next(self, area: str, suffix: str) -> str:
        key = f"{area}-{ABBR[suffix]}"
        self.seq[key] += 1
        return f"{key}-{self.seq[key]:05d}"


# -- where things are --------------------------------------------------------------------------
_SHAPES = {code: Polygon(ring) for code, (_name, ring) in DISTRICTS.items()}


def _point(rng: random.Random, district: str) -> tuple[float, float]:
    """A point inside the district's demo boundary (WGS-84), 6 decimals."""
    shape = _SHAPES[district]
    x0, y0, x1, y1 = shape.bounds
    while True:
        lon, lat = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
        if shape.contains(Point(lon, lat)):
            return lon, lat


def _dname(district: str) -> str:
    return DISTRICTS[district][0]


def _road(rng: random.Random, district: str) -> str:
    return rng.choice(ROADS[district])


def _address(rng: random.Random, district: str) -> str:
    return f"上海市{_dname(district)}{_road(rng, district)}{rng.randint(1, 1800)}号"


def _street(rng: random.Random, district: str) -> str:
    return rng.choice(STREETS[district])[1]


def _landline(rng: random.Random) -> str:
    return f"{PHONE_PREFIX}{rng.randint(5000_0000, 6999_9999)}"


def _any_district(rng: random.Random) -> str:
    return rng.choice(list(DISTRICTS))


# -- the tables --------------------------------------------------------------------------------
def _bus_stops(district: str) -> Table:
    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows, seen = [], set()
        letters = SLUGS[district][:2].upper()
        for i in range(rng.randint(60, 140)):
            a, b = rng.sample(ROADS[district], 2)
            name = f"{a}{b}站"
            if name in seen:
                name = f"{a}{b}({'东西南北'[i % 4]})站"
            seen.add(name)
            lon, lat = _point(rng, district)
            rows.append({"stop_id": f"{letters}{i + 1:04d}", "stop_name": name, "routes": "；".join(
                rng.sample(BUS_ROUTES, rng.randint(1, 4))), "longitude": lon, "latitude": lat,
                "district": _dname(district), "shelter": rng.random() < 0.7})
        return "CSV", rows
    return make


def _air_quality(district: str, today: date) -> Table:
    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        for back in range(365, 0, -1):
            day = today - timedelta(days=back)
            winter = 1.0 + 0.6 * (day.month in (12, 1, 2, 3))
            pm25 = max(5, round(rng.gammavariate(3.0, 10.0) * winter))
            pm10 = pm25 + rng.randint(5, 40)
            o3 = max(10, round(rng.gauss(95 if day.month in (5, 6, 7, 8, 9) else 60, 25)))
            aqi = max(15, min(400, round(max(pm25 * 1.35, pm10 * 0.7, o3 * 0.62))))
            level = next(name for limit, name in AQI_LEVELS if aqi <= limit)
            primary = "" if aqi <= 50 else ("PM2.5" if pm25 * 1.35 >= max(pm10 * 0.7, o3 * 0.62)
                                            else "PM10" if pm10 * 0.7 >= o3 * 0.62 else "O3")
            rows.append({"date": day.isoformat(), "district": _dname(district), "aqi": aqi, "level": level,
                         "primary_pollutant": primary, "pm25": pm25, "pm10": pm10, "o3": o3,
                         "no2": rng.randint(12, 70), "so2": rng.randint(3, 15), "co": round(rng.uniform(0.3, 1.3), 1)})
        return "CSV", rows
    return make


def _toilets(district: str) -> Table:
    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        for i in range(rng.randint(50, 110)):
            road = _road(rng, district)
            lon, lat = _point(rng, district)
            rows.append({"name": f"{road}公厕{i + 1}号", "address": f"上海市{_dname(district)}{road}{rng.randint(1, 1500)}号旁",
                         "longitude": lon, "latitude": lat, "grade": rng.choice(["一类", "二类", "二类", "三类"]),
                         "hours": rng.choice(["全天开放", "5:00-23:00", "6:00-22:00"]),
                         "accessible": rng.random() < 0.8, "baby_room": rng.random() < 0.35})
        return "JSON", rows
    return make


def _parking(district: str) -> Table:
    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        for i in range(rng.randint(50, 90)):
            road = _road(rng, district)
            lon, lat = _point(rng, district)
            spaces = rng.randint(40, 900)
            rows.append({"lot_id": f"P{district[-3:]}{i + 1:04d}", "name": f"{road}{rng.choice(['公共', '商业', '地下'])}停车场",
                         "address": f"上海市{_dname(district)}{road}{rng.randint(1, 1500)}号",
                         "longitude": lon, "latitude": lat, "spaces": spaces,
                         "charging_spaces": rng.randint(0, spaces // 5),
                         "fee": rng.choice(["首小时10元，之后每半小时5元", "每小时8元，24小时封顶60元", "每小时5元",
                                            "首小时15元，之后每小时10元"]),
                         "hours": rng.choice(["全天开放", "7:00-23:00"])})
        return "XLSX", rows
    return make


def _service_halls(rng: random.Random) -> tuple[str, list[Row]]:
    rows = []
    for d in DISTRICTS:
        rows.append({"name": f"{_dname(d)}行政服务中心", "level": "区级", "district": _dname(d),
                     "address": _address(rng, d), "phone": _landline(rng), "hours": "周一至周五 9:00-17:00，周六 9:00-12:00",
                     "items": rng.randint(600, 1400)})
        for _code, street in STREETS[d]:
            rows.append({"name": f"{street}社区事务受理服务中心", "level": "街镇级", "district": _dname(d),
                         "address": _address(rng, d), "phone": _landline(rng), "hours": rng.choice(HOURS[:3]),
                         "items": rng.randint(150, 260)})
    return "CSV", rows


def _places(kind: str, names: list[str], extra: Callable[[random.Random], Row], fmt: str = "CSV",
            per_district: tuple[int, int] = (3, 8)) -> Table:
    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        for d in DISTRICTS:
            for _ in range(rng.randint(*per_district)):
                lon, lat = _point(rng, d)
                base = _dname(d).removesuffix("区").removesuffix("新")
                rows.append({"name": f"{base}{rng.choice(names)}{kind}", "district": _dname(d), "address": _address(rng, d),
                             "longitude": lon, "latitude": lat, **extra(rng)})
        seen: Counter[str] = Counter()
        for row in rows:
            seen[row["name"]] += 1
            if seen[row["name"]] > 1:
                row["name"] = f"{row['name']}（{_street(rng, _district_of(row['district']))}）"
        return fmt, rows
    return make


def _district_of(name: str) -> str:
    return next(code for code, (n, _r) in DISTRICTS.items() if n == name)


def _companies(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    out, seen = [], set()
    while len(out) < n:
        d = _any_district(rng)
        industry, word = rng.choice(INDUSTRIES)
        name = f"上海{rng.choice(BRANDS)}{rng.choice(BRANDS)}{word}有限公司"
        if name in seen:
            continue
        seen.add(name)
        out.append((name, industry, d))
    return out


def _registrations(today: date) -> Table:
    # No 统一社会信用代码 column: a company's code is public business data, but the same register
    # holds 个体工商户, whose code points at one person, and the gate flags every valid USCC it
    # sees. Dropping the column with a step would still keep it in the raw upload, so the demo's
    # open table simply leaves it out — the register's own public lookup (国家企业信用信息公示系统)
    # is where a code is checked. Nor any legal representative's name or ID number.
    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        for name, industry, d in _companies(rng, 400):
            rows.append({"company_name": name, "company_type": rng.choice(["有限责任公司（自然人投资或控股）",
                                                                           "有限责任公司（法人独资）", "股份有限公司（非上市）"]),
                         "industry": industry, "registered_capital": float(rng.choice([10, 50, 100, 200, 500, 1000, 3000])),
                         "established_on": (today - timedelta(days=rng.randint(1, 90))).isoformat(),
                         "district": _dname(d), "address": _address(rng, d),
                         "status": rng.choice(["存续", "存续", "存续", "在业"])})
        return "CSV", rows
    return make


def _credit_classes(rng: random.Random) -> tuple[str, list[Row]]:
    rows = [{"company_name": name, "district": _dname(d), "industry": industry,
             "risk_class": rng.choices(["A类（信用风险低）", "B类（信用风险一般）", "C类（信用风险较高）", "D类（信用风险高）"],
                                       weights=[50, 35, 12, 3])[0], "assessed_on": "2025-12-31"}
            for name, industry, d in _companies(rng, 300)]
    return "CSV", rows


def _ridership(rng: random.Random) -> tuple[str, list[Row]]:
    rows = []
    for route in BUS_ROUTES:
        for m in range(1, 9):
            weekday = rng.randint(3000, 40000)
            rows.append({"route": route, "month": f"2025-{m:02d}", "weekday_avg": weekday,
                         "weekend_avg": int(weekday * rng.uniform(0.5, 0.9)),
                         "peak_section": f"{rng.choice(ROADS['310101'])}—{rng.choice(ROADS['310106'])}"})
    return "JSON", rows


def _river_quality(today: date) -> Table:
    rivers = ["苏州河", "黄浦江", "蕴藻浜", "川杨河", "淀浦河", "大治河", "金汇港", "油墩港"]

    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        for back in range(30, 0, -1):
            for river in rivers:
                rows.append({"date": (today - timedelta(days=back + 8)).isoformat(), "river": river,
                             "section": f"{river}{rng.choice(['上游', '中游', '下游'])}断面",
                             "grade": rng.choices(["II类", "III类", "IV类", "V类"], weights=[15, 50, 30, 5])[0],
                             "dissolved_oxygen": round(rng.uniform(4.0, 9.5), 2), "ammonia": round(rng.uniform(0.1, 1.6), 2),
                             "cod": round(rng.uniform(8, 28), 1)})
        return "CSV", rows
    return make


def _congestion(today: date) -> Table:
    roads = ["延安高架", "南北高架", "内环高架", "中环路", "外环线", "南京东路", "淮海中路", "世纪大道"]

    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        day = today - timedelta(days=9)
        for road in roads:
            for hour in range(6, 23):
                rows.append({"time": f"{day.isoformat()} {hour:02d}:00:00", "road": road,
                             "index": round(rng.uniform(1.0, 2.2 if hour in (8, 9, 17, 18) else 1.5), 2),
                             "speed_kmh": round(rng.uniform(12, 55), 1)})
        return "CSV", rows
    return make


def _prices(today: date) -> Table:
    goods = [("青菜", 3.0), ("大白菜", 1.8), ("土豆", 2.5), ("番茄", 5.0), ("鸡蛋", 6.5), ("猪肉（精肉）", 16.0),
             ("草鱼", 12.0), ("大米", 3.1), ("豆腐", 4.0), ("黄瓜", 4.5)]

    def make(rng: random.Random) -> tuple[str, list[Row]]:
        rows = []
        for back in range(40, 9, -1):
            for name, price in goods:
                rows.append({"date": (today - timedelta(days=back)).isoformat(), "goods": name, "unit": "元/500克",
                             "avg_price": round(price * rng.uniform(0.85, 1.2), 2)})
        return "XLSX", rows
    return make


def _volunteer_stations(rng: random.Random) -> tuple[str, list[Row]]:
    rows = []
    for d in DISTRICTS:
        for _code, street in STREETS[d]:
            rows.append({"station": f"{street}志愿服务站", "district": _dname(d), "address": _address(rng, d),
                         "contact_phone": f"1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}",
                         "services": "；".join(rng.sample(["助老服务", "社区环境", "文明交通", "法律援助", "心理疏导",
                                                          "四点半课堂"], 3)), "hours": rng.choice(HOURS[:3])})
    return "CSV", rows


def _allowances(rng: random.Random) -> tuple[str, list[Row]]:
    """Each (birth year, district) of at least 5 people, so the table is 5-anonymous once birth
    dates become years and addresses districts."""
    rows, n = [], 0
    districts = rng.sample(list(DISTRICTS), 6)
    for year in range(1928, 1946, 3):
        for d in districts:
            for _ in range(rng.randint(5, 8)):
                n += 1
                born = date(year, rng.randint(1, 12), rng.randint(1, 28))
                age = 2025 - year
                rows.append({"record_no": f"GL{n:06d}", "birth_date": born.isoformat(),
                             "address": f"{_address(rng, d)}{rng.randint(1, 40)}室",
                             "allowance_level": "100周岁以上" if age >= 100 else "90-99周岁" if age >= 90 else "80-89周岁",
                             "monthly_amount": 600.0 if age >= 100 else 300.0 if age >= 90 else 150.0})
    return "CSV", rows


def _dogs(rng: random.Random) -> tuple[str, list[Row]]:
    rows = []
    for i in range(rng.randint(150, 250)):
        d = _any_district(rng)
        rows.append({"licence_no": f"沪犬{i + 1:06d}", "breed": rng.choice(["泰迪", "柯基", "比熊", "柴犬", "金毛", "中华田园犬",
                                                                          "博美", "雪纳瑞"]),
                     "owner_address": f"{_address(rng, d)}{rng.randint(1, 30)}弄{rng.randint(1, 20)}号",
                     "immunised_on": f"2025-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}",
                     "registered_on": f"2025-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}"})
    return "CSV", rows


def resident_id(rng: random.Random, district: str) -> str:
    """A resident ID number with a valid check character, born 1940–2004, of the district."""
    born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 64 * 365))
    first = f"{district}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return first + resident_id_check_char(first)


def _relief(rng: random.Random) -> tuple[str, list[Row]]:
    rows = []
    for i in range(rng.randint(60, 90)):
        d = _any_district(rng)
        rows.append({"case_no": f"LS{i + 1:05d}", "id_number": resident_id(rng, d),
                     "amount": float(rng.choice([500, 800, 1000, 1500, 2000])),
                     "paid_on": f"2025-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}", "street": _street(rng, d)})
    return "CSV", rows


def _hotline(rng: random.Random) -> tuple[str, list[Row]]:
    topics = [("噪声扰民", "夜间施工噪声扰民，希望尽快处理"), ("物业管理", "小区电梯经常故障，物业不及时维修"),
              ("交通秩序", "路口早高峰拥堵，建议增设信号灯"), ("市容环境", "小区门口垃圾堆放多日无人清运"),
              ("教育", "咨询幼儿园入园报名时间"), ("社会保障", "咨询退休人员医保报销比例")]
    rows = []
    for i in range(rng.randint(120, 200)):
        d = _any_district(rng)
        kind, text = rng.choice(topics)
        content = f"市民反映{_dname(d)}{_road(rng, d)}一带{text}。"
        if rng.random() < 0.12:  # the officer forgot to take callers' numbers out of the free text
            content += f"来电人要求回电，联系电话1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}。"
        rows.append({"ticket_no": f"RX{i + 1:06d}", "received_on": f"2025-{rng.randint(1, 9):02d}-{rng.randint(1, 28):02d}",
                     "category": kind, "district": _dname(d), "content": content,
                     "status": rng.choice(["已办结", "已办结", "办理中"])})
    return "CSV", rows


# -- the plan ----------------------------------------------------------------------------------
_PLACE_FIELDS = [_f("name", "名称"), _f("district", "所在区"), _f("address", "地址"), _f("longitude", "经度", "number"),
                 _f("latitude", "纬度", "number")]


def _open_city(codes: _Codes) -> list[Planned]:
    """City-wide open tables: (department, slug, title, topic, cycle, summary, tags, extra fields, table)."""
    def place_table(kind: str, names: list[str], extra: Callable[[random.Random], Row], fmt: str = "CSV",
                    per: tuple[int, int] = (3, 8)) -> Table:
        return _places(kind, names, extra, fmt, per)

    specs: list[tuple[str, str, str, str, str, str, list[str], list[FieldIn], Table]] = [
        ("JTW", "ev-charging-stations", "公共充电站点分布", "transport", "monthly",
         "全市对外开放的公共充电站位置、运营单位、快慢充桩数量及收费标准。", ["充电桩", "新能源汽车", "充电站"],
         [_f("operator", "运营单位"), _f("fast", "快充桩数", "integer"), _f("slow", "慢充桩数", "integer"),
          _f("price", "充电服务费")],
         place_table("充电站", ["中心", "枢纽", "广场", "产业园", "体育中心", "商业中心"],
                     lambda r: {"operator": r.choice(["国家电网", "特来电", "星星充电", "蔚来能源", "上汽安悦"]),
                                "fast": r.randint(2, 30), "slow": r.randint(0, 20),
                                "price": f"{r.choice(['0.8', '1.0', '1.2'])}元/千瓦时"}, "JSON", (6, 14))),
        ("WHLY", "public-libraries", "公共图书馆名录", "culture", "yearly",
         "全市公共图书馆及街镇分馆的地址、开放时间、阅览座位和馆藏量。", ["图书馆", "阅读", "公共文化"],
         [_f("hours", "开放时间"), _f("seats", "阅览座位", "integer"), _f("collection", "馆藏（万册）", "number")],
         place_table("图书馆", ["区", "少年儿童", "第二", "城市书房·", "社区"],
                     lambda r: {"hours": r.choice(HOURS[3:]), "seats": r.randint(60, 1200),
                                "collection": round(r.uniform(2, 180), 1)}, "CSV", (2, 5))),
        ("WJW", "hospitals", "医疗机构名录", "health", "quarterly",
         "全市医院的等级、类别、地址、咨询电话和核定床位。", ["医院", "医疗机构", "就医"],
         [_f("level", "医院等级"), _f("type", "类别"), _f("phone", "咨询电话"), _f("beds", "核定床位", "integer")],
         place_table("医院", ["人民", "中心", "中医", "妇幼保健", "第一人民", "光华", "东方", "仁济"],
                     lambda r: {"level": r.choice(["三级甲等", "三级乙等", "二级甲等", "二级乙等", "一级"]),
                                "type": r.choice(["综合医院", "中医医院", "专科医院", "妇幼保健院"]),
                                "phone": _landline(r), "beds": r.randint(80, 2200)}, "XLSX", (3, 7))),
        ("JW", "schools", "中小学校名录", "education", "yearly",
         "全市中小学的学段、办学性质、地址和招生咨询电话。", ["学校", "义务教育", "招生"],
         [_f("stage", "学段"), _f("nature", "办学性质"), _f("phone", "招生咨询电话")],
         place_table("学校", ["实验", "第一中学·", "第二小学·", "外国语", "育才", "建平", "民办", "复兴"],
                     lambda r: {"stage": r.choice(["小学", "初级中学", "完全中学", "九年一贯制", "高级中学"]),
                                "nature": r.choice(["公办", "公办", "公办", "民办"]), "phone": _landline(r)},
                     "CSV", (8, 16))),
        ("LHSR", "city-parks", "城市公园名录", "urban", "yearly",
         "全市城市公园的类型、面积、地址和开放时间。", ["公园", "绿地", "休闲"],
         [_f("type", "公园类型"), _f("area_ha", "面积（公顷）", "number"), _f("hours", "开放时间")],
         place_table("公园", ["滨江", "中心", "世纪", "和平", "体育", "植物", "森林", "湿地"],
                     lambda r: {"type": r.choice(["综合公园", "社区公园", "专类公园", "口袋公园"]),
                                "area_ha": round(r.uniform(0.2, 140), 2), "hours": r.choice(["5:00-22:00", "6:00-18:00",
                                                                                            "全天开放"])},
                     "CSV", (4, 9))),
        ("WHLY", "sports-venues", "公共体育场馆名录", "culture", "yearly",
         "全市公共体育场馆的项目、开放时间与收费情况。", ["体育场馆", "健身", "全民健身"],
         [_f("sports", "体育项目"), _f("hours", "开放时间"), _f("free", "免费开放", "boolean")],
         place_table("体育中心", ["区", "市民", "青少年", "游泳", "网球", "足球"],
                     lambda r: {"sports": "；".join(r.sample(["游泳", "羽毛球", "篮球", "足球", "网球", "乒乓球", "健身"], 3)),
                                "hours": r.choice(HOURS[2:]), "free": r.random() < 0.3}, "JSON", (2, 5))),
        ("MZJ", "care-homes", "养老机构名录", "society", "quarterly",
         "全市养老机构的性质、床位数、收费区间和地址。", ["养老", "养老机构", "为老服务"],
         [_f("nature", "机构性质"), _f("beds", "床位数", "integer"), _f("fee", "月收费区间")],
         place_table("养老院", ["福寿", "康乐", "颐养", "夕阳红", "长者", "社会福利"],
                     lambda r: {"nature": r.choice(["公办", "公建民营", "民办"]), "beds": r.randint(40, 600),
                                "fee": r.choice(["3000-5000元", "4000-7000元", "6000-12000元"])}, "CSV", (4, 10))),
        ("SCJG", "farmers-markets", "标准化菜市场名录", "economy", "yearly",
         "全市标准化菜市场的地址、营业时间和摊位数。", ["菜市场", "民生", "农贸市场"],
         [_f("hours", "营业时间"), _f("stalls", "摊位数", "integer")],
         place_table("菜市场", ["新村", "中心", "东方", "邻里", "社区"],
                     lambda r: {"hours": r.choice(["6:00-19:00", "5:30-18:30", "6:00-20:00"]),
                                "stalls": r.randint(40, 260)}, "CSV", (5, 10))),
        ("XFJY", "fire-stations", "消防救援站分布", "public-safety", "yearly",
         "全市消防救援站的位置和类型（特勤站、普通站、小型站）。", ["消防", "应急", "救援"],
         [_f("type", "站点类型")],
         place_table("消防救援站", ["中心", "特勤", "滨江", "新城", "开发区"],
                     lambda r: {"type": r.choice(["特勤消防站", "一级普通消防站", "二级普通消防站", "小型消防站"])},
                     "CSV", (2, 6))),
        ("ZJW", "building-permits", "建筑工程施工许可公示", "urban", "monthly",
         "本年度核发的建筑工程施工许可：项目名称、建设单位、地址、面积和发证日期。", ["施工许可", "建设工程"],
         [_f("builder", "建设单位"), _f("floor_area", "建筑面积（平方米）", "number"), _f("issued_on", "发证日期", "date")],
         place_table("项目", ["住宅", "商业综合体", "学校", "保障房", "产业园", "医院扩建"],
                     lambda r: {"builder": f"上海{r.choice(BRANDS)}{r.choice(['置业', '城建', '开发建设'])}有限公司",
                                "floor_area": round(r.uniform(2000, 180000), 1),
                                "issued_on": f"2025-{r.randint(1, 9):02d}-{r.randint(1, 28):02d}"}, "XLSX", (3, 8))),
        ("SCJG", "cooperatives", "农民专业合作社名录", "agriculture", "quarterly",
         "郊区农民专业合作社的名称、主营产品、成员数和地址。", ["合作社", "农业", "乡村振兴"],
         [_f("product", "主营产品"), _f("members", "成员数", "integer")],
         place_table("合作社", ["蔬果专业", "水稻种植", "草莓种植", "蜜梨", "水产养殖"],
                     lambda r: {"product": r.choice(["蔬菜", "大米", "草莓", "翠冠梨", "大闸蟹", "葡萄"]),
                                "members": r.randint(5, 120)}, "CSV", (2, 6))),
        ("SJJ", "government-directory", "政府机构名录", "government", "yearly",
         "市、区两级政府部门的名称、地址与对外咨询电话。", ["政府机构", "部门", "咨询电话"],
         [_f("phone", "咨询电话")],
         place_table("", ["区市场监督管理局", "区卫生健康委员会", "区水务局", "区民政局", "区教育局", "区司法局"],
                     lambda r: {"phone": _landline(r)}, "JSON", (3, 6))),
    ]
    out = []
    for dept, slug, title, topic, cycle, summary, tags, extra, table in specs:
        fields = _PLACE_FIELDS + extra
        out.append(Planned(ResourceIn(name=slug, code=codes.next(CITY_AREA, dept), title=title, department_id="",
                                      summary=summary, topic=topic, update_cycle=cycle, opening="unconditional",
                                      sharing="unconditional", tags=tags, fields=fields),
                           f"{CITY_CODE}-{dept}", "open", table))
    return out


def _res(codes: _Codes, area: str, dept_suffix: str, department: str, name: str, title: str, topic: str, cycle: str,
         summary: str, tags: list[str], fields: list[FieldIn], *, opening: str = "unconditional",
         sharing: str = "unconditional", fate: str = "open", table: Table | None = None,
         steps: list[dict[str, Any]] | None = None, must: bool = False, opening_conditions: str = "",
         sharing_conditions: str = "") -> Planned:
    return Planned(ResourceIn(name=name, code=codes.next(area, dept_suffix), title=title, department_id="",
                              summary=summary, topic=topic, update_cycle=cycle, opening=opening, sharing=sharing,
                              opening_conditions=opening_conditions, sharing_conditions=sharing_conditions,
                              tags=tags, fields=fields),
                   department, fate, table, steps or [], must)


def _district_open(codes: _Codes, today: date) -> list[Planned]:
    out = []
    for d, (dname, _ring) in DISTRICTS.items():
        slug = SLUGS[d]
        out.append(_res(codes, d, "JTW", f"{CITY_CODE}-JTW", f"bus-stops-{slug}", f"{dname}公交站点", "transport",
                        "monthly", f"{dname}地面公交站点的名称、途经线路、经纬度（WGS-84）和候车亭设置情况。",
                        ["公交", "公交站点", dname],
                        [_f("stop_id", "站点编号"), _f("stop_name", "站点名称"), _f("routes", "途经线路"),
                         _f("longitude", "经度", "number"), _f("latitude", "纬度", "number"), _f("district", "所在区"),
                         _f("shelter", "设有候车亭", "boolean")], table=_bus_stops(d)))
        out.append(_res(codes, d, "STHJ", f"{CITY_CODE}-STHJ", f"air-quality-daily-{slug}", f"{dname}空气质量日报（近一年）",
                        "environment", "daily", f"{dname}国控、市控站点日均空气质量：AQI、等级、首要污染物及 PM2.5、PM10、"
                        "O3、NO2、SO2、CO 浓度（微克/立方米，CO 为毫克/立方米）。",
                        ["空气质量", "AQI", "PM2.5", dname],
                        [_f("date", "日期", "date"), _f("district", "所在区"), _f("aqi", "空气质量指数", "integer"),
                         _f("level", "空气质量等级"), _f("primary_pollutant", "首要污染物"), _f("pm25", "PM2.5", "integer"),
                         _f("pm10", "PM10", "integer"), _f("o3", "O3", "integer"), _f("no2", "NO2", "integer"),
                         _f("so2", "SO2", "integer"), _f("co", "CO", "number")], table=_air_quality(d, today)))
        out.append(_res(codes, d, "LHSR", f"{d}-LHSR", f"public-toilets-{slug}", f"{dname}公共厕所分布", "urban", "quarterly",
                        f"{dname}公共厕所的地址、位置、等级、开放时间及无障碍和母婴设施。", ["公厕", "便民设施", dname],
                        [_f("name", "名称"), _f("address", "地址"), _f("longitude", "经度", "number"),
                         _f("latitude", "纬度", "number"), _f("grade", "等级"), _f("hours", "开放时间"),
                         _f("accessible", "无障碍设施", "boolean"), _f("baby_room", "母婴室", "boolean")],
                        table=_toilets(d)))
        out.append(_res(codes, d, "JTW", f"{CITY_CODE}-JTW", f"parking-lots-{slug}", f"{dname}公共停车场（库）信息",
                        "transport", "monthly", f"{dname}经营性公共停车场（库）的地址、泊位数、充电泊位和收费标准。",
                        ["停车场", "停车", dname],
                        [_f("lot_id", "停车场编号"), _f("name", "名称"), _f("address", "地址"), _f("longitude", "经度", "number"),
                         _f("latitude", "纬度", "number"), _f("spaces", "泊位数", "integer"),
                         _f("charging_spaces", "充电泊位", "integer"), _f("fee", "收费标准"), _f("hours", "营业时间")],
                        table=_parking(d)))
    for p in out[:4]:
        p.must = True
    return out


def _special(codes: _Codes, today: date) -> list[Planned]:
    c = CITY_AREA
    return [
        _res(codes, c, "SJJ", f"{CITY_CODE}-SJJ", "service-halls", "政务服务大厅名录", "government", "quarterly",
             "市、区行政服务中心和街镇社区事务受理服务中心的地址、咨询电话、办公时间和可办事项数。",
             ["政务服务", "办事大厅", "一网通办"],
             [_f("name", "名称"), _f("level", "层级"), _f("district", "所在区"), _f("address", "地址"),
              _f("phone", "咨询电话"), _f("hours", "办公时间"), _f("items", "可办事项数", "integer")],
             table=_service_halls, must=True),
        _res(codes, c, "SCJG", f"{CITY_CODE}-SCJG", "new-companies", "新设立企业登记信息（近三个月）", "economy", "monthly",
             "近三个月新设立企业的名称、类型、行业、注册资本（万元）、成立日期、住所和登记状态。不含法定代表人等个人信息。",
             ["企业登记", "市场主体", "营商环境"],
             [_f("company_name", "企业名称"), _f("company_type", "企业类型"), _f("industry", "所属行业"),
              _f("registered_capital", "注册资本（万元）", "number"), _f("established_on", "成立日期", "date"),
              _f("district", "所在区"), _f("address", "住所"), _f("status", "登记状态")],
             table=_registrations(today), must=True),
        # 有条件开放: they open; reading their data needs an approved request's token.
        _res(codes, c, "SCJG", f"{CITY_CODE}-SCJG", "credit-risk-classes", "企业信用风险分类结果", "credit", "quarterly",
             "市场监管部门对企业开展信用风险分类管理的结果（A–D 四类）。", ["信用", "风险分类", "双随机"],
             [_f("company_name", "企业名称"), _f("district", "所在区"), _f("industry", "所属行业"),
              _f("risk_class", "风险分类", level=2), _f("assessed_on", "评定日期", "date")],
             opening="conditional", opening_conditions="用于信用研究或风控模型的机构申请，注明用途，不得对外公开单个企业的分类结果。",
             table=_credit_classes, must=True),
        _res(codes, c, "JTW", f"{CITY_CODE}-JTW", "bus-ridership", "公交线路客流统计", "transport", "monthly",
             "主要公交线路月度工作日、双休日日均客流及高峰断面。", ["公交", "客流", "交通统计"],
             [_f("route", "线路"), _f("month", "月份"), _f("weekday_avg", "工作日日均客流", "integer", level=2),
              _f("weekend_avg", "双休日日均客流", "integer", level=2), _f("peak_section", "高峰断面")],
             opening="conditional", opening_conditions="面向交通规划与研究机构，签署数据使用协议后开放。",
             table=_ridership, must=True),
        # Open only thanks to recorded steps.
        _res(codes, c, "MZJ", f"{CITY_CODE}-MZJ", "volunteer-stations", "社区志愿服务站点", "society", "yearly",
             "各街镇志愿服务站的地址、服务项目和开放时间；联系人手机号已脱敏。", ["志愿服务", "社区"],
             [_f("station", "站点名称"), _f("district", "所在区"), _f("address", "地址"),
              _f("contact_phone", "联系人手机", grade="general", level=3), _f("services", "服务项目"),
              _f("hours", "开放时间")],
             fate="steps", table=_volunteer_stations, steps=[{"field": "contact_phone", "action": "mask", "to": None}],
             must=True),
        _res(codes, c, "MZJ", f"{CITY_CODE}-MZJ", "elderly-allowance", "高龄老人营养补贴发放统计", "society", "monthly",
             "高龄老人营养补贴的发放档次与金额；出生日期已概括为出生年份、住址已概括到区，满足 5-匿名。",
             ["高龄补贴", "养老", "为老服务"],
             [_f("record_no", "记录编号"), _f("birth_date", "出生日期", "date", level=3, qi=True),
              _f("address", "住址", level=3, qi=True), _f("allowance_level", "补贴档次"),
              _f("monthly_amount", "月补贴金额（元）", "number")],
             fate="steps", table=_allowances,
             steps=[{"field": "birth_date", "action": "generalise", "to": "year"},
                    {"field": "address", "action": "generalise", "to": "district"}], must=True),
        _res(codes, c, "GAJ", f"{CITY_CODE}-GAJ", "dog-licences", "犬只登记与免疫信息", "public-safety", "monthly",
             "养犬登记证号、犬种、免疫与登记日期；饲养地址已概括到区。", ["养犬", "犬只登记", "狂犬病免疫"],
             [_f("licence_no", "登记证号"), _f("breed", "犬种"), _f("owner_address", "饲养地址", level=4),
              _f("immunised_on", "免疫日期", "date"), _f("registered_on", "登记日期", "date")],
             fate="steps", table=_dogs, steps=[{"field": "owner_address", "action": "generalise", "to": "district"}],
             must=True),
        # Refused by the gate (kept ``refused`` with the report).
        _res(codes, c, "MZJ", f"{CITY_CODE}-MZJ", "temporary-relief", "临时救助金发放记录", "society", "monthly",
             "临时救助金的发放金额、日期和街镇。", ["社会救助", "临时救助"],
             [_f("case_no", "救助编号"), _f("id_number", "证件号码"), _f("amount", "救助金额（元）", "number"),
              _f("paid_on", "发放日期", "date"), _f("street", "所属街镇")],
             fate="refused", table=_relief, must=True),
        _res(codes, c, "12345", f"{CITY_CODE}-12345", "hotline-requests", "12345市民服务热线诉求办理情况", "society", "weekly",
             "12345 热线受理的市民诉求的类别、所在区、诉求内容和办理状态。", ["12345", "热线", "诉求"],
             [_f("ticket_no", "工单编号"), _f("received_on", "受理日期", "date"), _f("category", "诉求类别"),
              _f("district", "所在区"), _f("content", "诉求内容"), _f("status", "办理状态")],
             fate="refused", table=_hotline, must=True),
        # Open, but their update is late.
        _res(codes, c, "SWJ", f"{CITY_CODE}-SWJ", "river-quality-daily", "主要河道水质监测日报", "environment", "daily",
             "主要河道考核断面的水质类别、溶解氧、氨氮和化学需氧量。", ["水质", "河道", "河长制"],
             [_f("date", "日期", "date"), _f("river", "河道"), _f("section", "断面"), _f("grade", "水质类别"),
              _f("dissolved_oxygen", "溶解氧（mg/L）", "number"), _f("ammonia", "氨氮（mg/L）", "number"),
              _f("cod", "化学需氧量（mg/L）", "number")],
             fate="late", table=_river_quality(today), must=True),
        _res(codes, c, "JTW", f"{CITY_CODE}-JTW", "road-congestion-index", "道路交通拥堵指数", "transport", "realtime",
             "主要快速路和干道逐小时的交通拥堵指数与平均车速。", ["拥堵指数", "路况", "实时交通"],
             [_f("time", "时间", "datetime"), _f("road", "道路"), _f("index", "拥堵指数", "number"),
              _f("speed_kmh", "平均车速（km/h）", "number")], fate="late", table=_congestion(today)),
        _res(codes, c, "SCJG", f"{CITY_CODE}-SCJG", "market-prices-daily", "主要副食品价格日报", "economy", "daily",
             "标准化菜市场主要副食品的日均零售价格。", ["菜价", "物价", "民生"],
             [_f("date", "日期", "date"), _f("goods", "品名"), _f("unit", "计价单位"),
              _f("avg_price", "均价", "number")], fate="late", table=_prices(today)),
    ]


#: City-wide catalogue entries without data: (department, slug, title, topic, cycle, sharing, opening,
#: tags, fields as (name, title, type, grade, level)).
_CITY_CATALOGUE: list[tuple[str, str, str, str, str, str, str, list[str], list[tuple[str, str, str, str, int]]]] = [
    ("GAJ", "population-base", "实有人口基础信息", "society", "realtime", "conditional", "none", ["人口", "基础库"],
     [("id_number", "公民身份号码", "text", "core", 1), ("name", "姓名", "text", "important", 1),
      ("gender", "性别", "text", "general", 2), ("birth_date", "出生日期", "date", "general", 4),
      ("address", "居住地址", "text", "general", 4), ("street", "所属街镇", "text", "general", 1)]),
    ("SCJG", "legal-entities-base", "法人单位基础信息", "economy", "daily", "unconditional", "conditional",
     ["法人", "基础库", "市场主体"],
     [("uscc", "统一社会信用代码", "text", "general", 2), ("entity_name", "单位名称", "text", "general", 1),
      ("legal_rep", "法定代表人", "text", "important", 1), ("legal_rep_id", "法定代表人证件号码", "text", "core", 1),
      ("address", "住所", "text", "general", 1), ("registered_capital", "注册资本", "number", "general", 2)]),
    ("RSJ", "social-insurance", "社会保险参保缴费信息", "society", "monthly", "conditional", "none", ["社保", "参保"],
     [("id_number", "公民身份号码", "text", "core", 1), ("insurance_type", "险种", "text", "general", 1),
      ("base", "缴费基数", "number", "important", 1), ("employer", "参保单位", "text", "general", 2),
      ("months", "累计缴费月数", "integer", "general", 3)]),
    ("RSJ", "employment-stats", "城镇新增就业统计", "economy", "monthly", "unconditional", "unconditional",
     ["就业", "统计"],
     [("month", "月份", "text", "general", 1), ("district", "所在区", "text", "general", 1),
      ("new_jobs", "新增就业岗位", "integer", "general", 1), ("registered_unemployed", "登记失业人数", "integer", "general", 2)]),
    ("GHZY", "real-estate-register", "不动产登记信息", "urban", "realtime", "conditional", "none", ["不动产", "房产"],
     [("unit_no", "不动产单元号", "text", "general", 2), ("owner", "权利人", "text", "important", 1),
      ("owner_id", "权利人证件号码", "text", "core", 1), ("location", "坐落", "text", "general", 3),
      ("area", "面积", "number", "general", 2)]),
    ("GHZY", "address-gazetteer", "标准地名地址库", "urban", "quarterly", "unconditional", "unconditional",
     ["地名", "地址", "门牌"],
     [("address", "标准地址", "text", "general", 1), ("district", "所在区", "text", "general", 1),
      ("street", "街镇", "text", "general", 1), ("longitude", "经度", "number", "general", 1),
      ("latitude", "纬度", "number", "general", 1)]),
    ("JW", "student-register", "中小学学籍信息", "education", "yearly", "conditional", "none", ["学籍", "学生"],
     [("student_id", "学籍号", "text", "general", 4), ("name", "姓名", "text", "important", 1),
      ("school", "学校", "text", "general", 1), ("grade", "年级", "text", "general", 1),
      ("guardian_phone", "监护人电话", "text", "general", 4)]),
    ("WJW", "vaccinations", "预防接种记录", "health", "daily", "conditional", "none", ["疫苗", "接种"],
     [("person_id", "受种者证件号码", "text", "core", 1), ("vaccine", "疫苗名称", "text", "general", 1),
      ("dose", "剂次", "integer", "general", 1), ("clinic", "接种单位", "text", "general", 1),
      ("vaccinated_on", "接种日期", "date", "general", 3)]),
    ("SJJ", "e-licence-catalogue", "电子证照目录", "government", "irregular", "unconditional", "conditional",
     ["电子证照", "一网通办"],
     [("licence_type", "证照类型", "text", "general", 1), ("issuer", "发证机关", "text", "general", 1),
      ("holder_kind", "持证主体类别", "text", "general", 1), ("fields", "照面信息项", "text", "general", 2)]),
    ("WHLY", "heritage-sites", "文物保护单位名录", "culture", "yearly", "unconditional", "unconditional",
     ["文物", "文化遗产"],
     [("name", "名称", "text", "general", 1), ("era", "年代", "text", "general", 1),
      ("level", "保护级别", "text", "general", 1), ("address", "地址", "text", "general", 1)]),
    ("MZJ", "care-home-ratings", "养老机构等级评定结果", "society", "yearly", "unconditional", "unconditional",
     ["养老", "等级评定"],
     [("name", "机构名称", "text", "general", 1), ("rating", "等级", "text", "general", 1),
      ("rated_on", "评定日期", "date", "general", 1)]),
    ("STHJ", "soil-quality", "农用地土壤环境质量监测", "agriculture", "yearly", "conditional", "none",
     ["土壤", "农用地"],
     [("site", "点位编号", "text", "general", 2), ("longitude", "经度", "number", "important", 1),
      ("latitude", "纬度", "number", "important", 1), ("cadmium", "镉含量", "number", "general", 3),
      ("grade", "类别", "text", "general", 2)]),
    ("SCJG", "farm-product-checks", "食用农产品抽检结果", "agriculture", "quarterly", "unconditional", "unconditional",
     ["抽检", "食品安全", "农产品"],
     [("product", "产品", "text", "general", 1), ("market", "抽样场所", "text", "general", 1),
      ("result", "检验结论", "text", "general", 1), ("sampled_on", "抽样日期", "date", "general", 1)]),
    ("JTW", "transport-licences", "道路运输经营许可信息", "credit", "weekly", "unconditional", "unconditional",
     ["道路运输", "许可", "双公示"],
     [("licence_no", "许可证号", "text", "general", 1), ("operator", "经营者名称", "text", "general", 1),
      ("scope", "经营范围", "text", "general", 1), ("valid_until", "有效期至", "date", "general", 1)]),
    ("SCJG", "administrative-penalties", "行政处罚信息公示", "credit", "daily", "unconditional", "unconditional",
     ["行政处罚", "双公示", "信用"],
     [("decision_no", "决定书文号", "text", "general", 1), ("party", "当事人名称", "text", "general", 2),
      ("facts", "违法事实", "text", "general", 2), ("penalty", "处罚内容", "text", "general", 1),
      ("decided_on", "处罚日期", "date", "general", 1)]),
    ("CYZX", "emergency-plans", "突发事件应急预案目录", "public-safety", "irregular", "conditional", "none",
     ["应急预案", "应急管理"],
     [("plan", "预案名称", "text", "general", 1), ("level", "预案级别", "text", "general", 2),
      ("owner", "编制单位", "text", "general", 1), ("contact", "值班电话", "text", "important", 1)]),
    ("SJJ", "department-functions", "政府部门职能目录", "government", "yearly", "unconditional", "unconditional",
     ["机构职能", "权责清单"],
     [("department", "部门", "text", "general", 1), ("function", "职能", "text", "general", 1),
      ("basis", "设定依据", "text", "general", 1)]),
]

#: Per district: (department suffix, slug, title pattern, topic, cycle, sharing, opening, tags, fields).
_DISTRICT_CATALOGUE: list[tuple[str, str, str, str, str, str, str, list[str], list[tuple[str, str, str, str, int]]]] = [
    ("SCJG", "food-licences", "{d}食品经营许可信息", "credit", "weekly", "unconditional", "unconditional",
     ["食品经营许可", "双公示"],
     [("licence_no", "许可证编号", "text", "general", 1), ("operator", "经营者名称", "text", "general", 1),
      ("address", "经营场所", "text", "general", 1), ("valid_until", "有效期至", "date", "general", 1)]),
    ("WJW", "clinics", "{d}医疗机构执业登记", "health", "quarterly", "unconditional", "unconditional",
     ["医疗机构", "诊所"],
     [("name", "机构名称", "text", "general", 1), ("subjects", "诊疗科目", "text", "general", 1),
      ("address", "地址", "text", "general", 1), ("licence_valid_until", "执业许可有效期", "date", "general", 2)]),
    ("LHSR", "green-maintenance", "{d}绿地养护责任清单", "environment", "yearly", "unconditional", "unconditional",
     ["绿地", "养护"],
     [("green_space", "绿地名称", "text", "general", 1), ("area_m2", "面积（平方米）", "number", "general", 1),
      ("contractor", "养护单位", "text", "general", 1), ("phone", "养护单位电话", "text", "general", 2)]),
    ("SWJ", "drainage", "{d}排水设施运行信息", "urban", "monthly", "unconditional", "conditional",
     ["排水", "泵站", "防汛"],
     [("facility", "设施名称", "text", "general", 1), ("type", "设施类型", "text", "general", 1),
      ("capacity", "设计能力（立方米/秒）", "number", "general", 2), ("longitude", "经度", "number", "general", 3),
      ("latitude", "纬度", "number", "general", 3)]),
    ("CGZF", "enforcement-cases", "{d}城管执法案件统计", "public-safety", "monthly", "unconditional", "unconditional",
     ["城管执法", "案件"],
     [("month", "月份", "text", "general", 1), ("category", "案件类别", "text", "general", 1),
      ("cases", "立案数", "integer", "general", 1), ("closed", "结案数", "integer", "general", 1)]),
    ("XFJY", "fire-key-units", "{d}消防安全重点单位", "public-safety", "quarterly", "conditional", "none",
     ["消防", "重点单位"],
     [("unit", "单位名称", "text", "general", 2), ("address", "地址", "text", "general", 2),
      ("manager", "消防安全管理人", "text", "important", 1), ("manager_phone", "联系电话", "text", "general", 4),
      ("risk_level", "火灾风险等级", "text", "general", 3)]),
    ("ZJW", "construction-sites", "{d}在建工程项目清单", "urban", "monthly", "unconditional", "unconditional",
     ["在建工程", "工地"],
     [("project", "项目名称", "text", "general", 1), ("builder", "建设单位", "text", "general", 1),
      ("address", "项目地址", "text", "general", 1), ("planned_end", "计划竣工日期", "date", "general", 1)]),
    ("CYZX", "city-events-stats", "{d}城市运行事件统计", "government", "weekly", "unconditional", "conditional",
     ["一网统管", "城市运行"],
     [("week", "周次", "text", "general", 1), ("category", "事件类别", "text", "general", 1),
      ("events", "事件数", "integer", "general", 1), ("on_time_rate", "按期处置率", "number", "general", 2)]),
    ("GAFJ", "household-stats", "{d}户籍人口统计", "society", "yearly", "conditional", "none", ["户籍", "人口统计"],
     [("street", "街镇", "text", "general", 1), ("households", "户数", "integer", "general", 2),
      ("persons", "人数", "integer", "general", 2), ("aged_60_plus", "60岁以上人数", "integer", "important", 1)]),
    ("SCJG", "market-entities-stats", "{d}市场主体发展统计", "economy", "quarterly", "unconditional", "unconditional",
     ["市场主体", "统计"],
     [("quarter", "季度", "text", "general", 1), ("kind", "主体类型", "text", "general", 1),
      ("new", "新设数", "integer", "general", 1), ("total", "实有数", "integer", "general", 1)]),
]

_SUMMARY = "{title}：{fields}等数据项，由{dept}负责维护，按{cycle}更新。"


def _catalogue_entry(codes: _Codes, area: str, suffix: str, department: str, slug: str, title: str, topic: str,
                     cycle: str, sharing: str, opening: str, tags: list[str],
                     fields: list[tuple[str, str, str, str, int]], dept_name: str) -> Planned:
    summary = _SUMMARY.format(title=title, fields="、".join(f[1] for f in fields[:4]), dept=dept_name,
                              cycle=UPDATE_CYCLE_NAMES[cycle])
    return _res(codes, area, suffix, department, slug, title, topic, cycle, summary, tags,
                [_f(n, t, ty, g, lv) for n, t, ty, g, lv in fields], opening=opening, sharing=sharing, fate="catalogue",
                opening_conditions="经审核的科研、公益机构，签署数据利用协议" if opening == "conditional" else "",
                sharing_conditions="用于履职需要，经提供部门审核" if sharing == "conditional" else "")


_DEPT_NAMES = {"GAJ": "市公安局", "SCJG": "市市场监管局", "RSJ": "市人力资源社会保障局", "GHZY": "市规划资源局",
               "JW": "市教委", "WJW": "市卫生健康委", "SJJ": "市数据局", "WHLY": "市文化旅游局", "MZJ": "市民政局",
               "STHJ": "市生态环境局", "JTW": "市交通委", "CYZX": "市城运中心"}


def build_plan(datasets: int = FULL, *, seed: int = 1, today: date | None = None) -> list[Planned]:
    """Every resource the demo loads, in loading order: at most ``datasets`` of them, but never
    fewer than those that show each kind (``must``). Pure: nothing is read or written."""
    del seed  # the plan's shape does not depend on the seed; the tables' contents do (see load)
    if datasets <= 0:
        return []
    today = today or datetime.now(UTC).date()
    codes = _Codes()
    plans = _special(codes, today) + _district_open(codes, today) + _open_city(codes)
    for suffix, slug, title, topic, cycle, sharing, opening, tags, fields in _CITY_CATALOGUE:
        plans.append(_catalogue_entry(codes, CITY_AREA, suffix, f"{CITY_CODE}-{suffix}", slug, title, topic, cycle,
                                      sharing, opening, tags, fields, _DEPT_NAMES.get(suffix, suffix)))
    for i, (d, (dname, _ring)) in enumerate(DISTRICTS.items()):
        for j, (suffix, slug, title, topic, cycle, sharing, opening, tags, fields) in enumerate(_DISTRICT_CATALOGUE):
            entry = _catalogue_entry(codes, d, suffix, f"{d}-{suffix}", f"{slug}-{SLUGS[d]}", title.format(d=dname),
                                     topic, cycle, sharing, opening, [*tags, dname], fields,
                                     f"{dname}{'公安分局' if suffix == 'GAFJ' else '相关部门'}")
            entry.must = i == 0 and j in (5, 8)  # a 不予开放 entry or two at every size
            plans.append(entry)
    for p in plans:
        if p.data.name == "population-base":
            p.must = True  # the grant between departments is on it
    must = [p for p in plans if p.must]
    rest = [p for p in plans if not p.must]
    return must + rest[: max(0, datasets - len(must))]


def plan_counts(plans: list[Planned]) -> dict[str, int]:
    """What a plan will load: resources, by fate, and those that open."""
    fates = Counter(p.fate for p in plans)
    return {"resources": len(plans), "opened": sum(1 for p in plans if p.opens), **dict(fates)}


# -- bytes of an upload ------------------------------------------------------------------------
def _cell(v: Any) -> Any:
    if isinstance(v, bool):
        return "是" if v else "否"
    return v


_XLSX_PARTS = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
    'worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}


def _xlsx(rows: Iterable[list[Any]]) -> bytes:
    """A one-sheet XLSX of ``rows`` (text as inline strings, numbers as numbers), written with the
    standard library: openpyxl stays behind the datacat's ingest and datastore (import contract),
    and the demo's uploads come from a writer other than the reader's own."""
    out = ['<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
           '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>']
    for r, row in enumerate(rows, start=1):
        out.append(f'<row r="{r}">')
        for value in row:
            if value is None:
                out.append("<c/>")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                out.append(f"<c><v>{value!r}</v></c>")
            else:
                out.append(f'<c t="inlineStr"><is><t>{escape(str(value))}</t></is></c>')
        out.append("</row>")
    out.append("</sheetData></worksheet>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, xml in _XLSX_PARTS.items():
            z.writestr(name, xml)
        z.writestr("xl/worksheets/sheet1.xml", "".join(out))
    return buf.getvalue()


def encode(fmt: str, fields: list[FieldIn], rows: list[Row]) -> bytes:
    """A table as the bytes a data officer would upload (header = the fields' names)."""
    names = [f.name for f in fields]
    if fmt == "JSON":
        return json.dumps([{n: r.get(n) for n in names} for r in rows], ensure_ascii=False).encode("utf-8")
    if fmt == "XLSX":
        return _xlsx([names, *([_cell(r.get(n)) for n in names] for r in rows)])
    text = io.StringIO()
    w = csv.writer(text, lineterminator="\n")
    w.writerow(names)
    for r in rows:
        w.writerow(["" if r.get(n) is None else _cell(r.get(n)) for n in names])
    return text.getvalue().encode("utf-8")


def upload_of(p: Planned, seed: int) -> tuple[str, bytes]:
    """(file name, bytes) of a planned resource's table, from a generator seeded by the seed and
    the resource's name (so a table is the same whatever else is loaded)."""
    assert p.table is not None
    fmt, rows = p.table(random.Random(f"{seed}:{p.data.name}"))
    return f"{p.data.name}.{fmt.lower()}", encode(fmt, p.data.fields, rows)


# -- loading -----------------------------------------------------------------------------------
def _departments(session: Session) -> dict[str, str]:
    """The extra city departments (created when missing) and every department's id by code."""
    have = {d.code: d.id for d in areas_service.list_departments(session)}
    for suffix, name, kind in EXTRA_DEPARTMENTS:
        code = f"{CITY_CODE}-{suffix}"
        if code not in have:
            have[code] = areas_service.create_department(session, SYSTEM, code=code, name=name,
                                                         area_code=CITY_CODE, kind=kind).id
    return have


class _Actors:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[str, Actor] = {}

    def user(self, username: str) -> Actor:
        if username not in self.cache:
            self.cache[username] = identity_service.actor_for_username(self.session, username, mfa=True)
        return self.cache[username]

    def officer(self, department_code: str) -> Actor:
        """The department's demo data officer; SYSTEM for a department without one (districts')."""
        area, suffix = department_code.split("-", 1)
        if area != CITY_CODE:
            if suffix in DISTRICT_OFFICER_DEPARTMENTS:
                return self.user(f"dataofficer.{area}.{suffix.lower()}")
            return SYSTEM
        if suffix == "SJJ":
            return self.user("dataofficer")
        return self.user(f"dataofficer.{suffix.lower()}") if suffix in OFFICER_DEPARTMENTS else SYSTEM


LATE_BY = timedelta(days=9)
"""How long ago the late resources were last updated (their daily and real-time updates are owed)."""


def _load_one(session: Session, actor: Actor, p: Planned, seed: int) -> tuple[str, str, str]:
    """Catalogue one planned resource, upload its table, record its steps and try to open it, as
    its data officer would; returns (its id, its state, the gate's message when it refused)."""
    data = p.data.model_copy(update={"department_id": p.department})
    created = datacat_service.create_resource(session, actor, data)
    if p.table is None:
        return created.id, "draft", ""
    filename, content = upload_of(p, seed)
    up = datacat_service.add_distribution(session, actor, created.id, name=p.data.title, data=content,
                                          filename=filename)
    if up.errors:
        raise RuntimeError(f"demo table {p.data.name} has row errors: {up.errors[:3]}")
    if p.steps:
        assert up.distribution is not None
        datacat_service.set_steps(session, actor, up.distribution.id, p.steps)
    opened = datacat_service.open_resource(session, actor, created.id)
    if opened.passed != p.opens:
        raise RuntimeError(f"demo resource {p.data.name}: the gate said {opened.passed}: {opened.message}")
    return created.id, "open" if opened.passed else "refused", opened.message


def load_datacat(session: Session, *, datasets: int = FULL, seed: int = 1) -> dict[str, Any]:
    """Load the demo catalogue (in the caller's transaction); the demo city and its staff must be
    loaded. Returns counts for the loader's summary and the staff made."""
    started = time.perf_counter()
    plans = build_plan(datasets, seed=seed)
    if not plans:
        return {"resources": 0, "staff": []}
    departments = _departments(session)
    officers = [f"{CITY_CODE}-{s}" for s in OFFICER_DEPARTMENTS]
    officers += [f"{d}-{s}" for d in DISTRICTS for s in DISTRICT_OFFICER_DEPARTMENTS]
    staff = load_datacat_staff(session, departments={c: departments[c] for c in officers if c in departments})
    actors = _Actors(session)
    states: Counter[str] = Counter()
    by_name: dict[str, str] = {}
    refused_reports: dict[str, str] = {}
    late: list[str] = []
    for p in plans:
        with _service_clock(utcnow() - LATE_BY if p.fate == "late" else None):
            created_id, state, message = _load_one(session, actors.officer(p.department), p, seed)
        by_name[p.data.name] = created_id
        states[state] += 1
        if state == "refused":
            refused_reports[p.data.name] = message
        if p.fate == "late":
            late.append(created_id)
    access = _access(session, actors, plans, by_name)
    demands = _demands(session, actors, plans, by_name)
    grants = _grant(session, actors, by_name)
    return {"resources": len(plans), "states": dict(states), "late": len(late), "access_requests": access,
            "demands": demands, "grants": grants, "refused": refused_reports, "staff": staff,
            "seconds": round(time.perf_counter() - started, 1),
            "departments_added": [f"{CITY_CODE}-{s}" for s, _n, _k in EXTRA_DEPARTMENTS]}


@contextmanager
def _service_clock(moment: datetime | None) -> Iterator[None]:
    """With a moment, the datacat service's clock reads it (as :mod:`yiwang.demo.cityops` does for
    its service): a late resource is catalogued and opened :data:`LATE_BY` ago, so its last update
    and the next one owed lie in the past as a real late resource's would. The audit trail keeps
    the real time."""
    if moment is None:
        yield
        return
    real = datacat_service.utcnow
    datacat_service.utcnow = lambda: moment  # type: ignore[assignment]
    try:
        yield
    finally:
        datacat_service.utcnow = real  # type: ignore[assignment]


def _access(session: Session, actors: _Actors, plans: list[Planned], by_name: dict[str, str]) -> dict[str, int]:
    """On the 有条件开放 resources: an enterprise's request approved, a citizen's pending."""
    conditional = [p for p in plans if p.data.opening == "conditional" and p.opens]
    if not conditional:
        return {}
    first, last = conditional[0], conditional[-1]
    approved = datacat_service.request_access(session, actors.user("enterprise1"), by_name[first.data.name],
                                              organisation="演示企业数据分析部", purpose="建立供应商信用风险评估模型，仅内部使用")
    datacat_service.decide_access(session, actors.officer(first.department), approved.id, approve=True,
                                  reason="用途明确，同意开放一年")
    datacat_service.request_access(session, actors.user("citizen1"), by_name[last.data.name],
                                   organisation="某高校交通工程研究生", purpose="毕业论文：公交客流时空分布研究")
    return {"approved": 1, "pending": 1}


#: (requester username, title, description, target department suffix, answer: (status, text) or None).
_DEMANDS = [
    ("citizen2", "公共游泳池开放时间和水质信息", "希望开放全市公共游泳池的开放时间、票价和每日水质检测结果。", "WHLY", None),
    ("dataofficer.wjw", "急救站点周边道路施工占道信息", "用于120急救车辆路径规划，需要实时的道路施工占道数据。", "JTW", None),
    ("citizen3", "共享单车禁停区域", "骑行时想知道哪些区域禁止停放共享单车。", "JTW",
     ("answered", "禁停区域由各区划定并在现场标识，已在市交通委网站公布；相关数据正在整理，拟于下季度编目。")),
    ("dataofficer.mzj", "各区养老床位使用率", "用于养老服务设施布局规划。", "WJW",
     ("answered", "养老床位数据由市民政局掌握，本委仅有医养结合机构数据，已转告市民政局。")),
    ("citizen4", "公交站点位置数据", "做出行类小程序，需要全市公交站点的名称和坐标。", "JTW",
     ("fulfilled", "已开放各区公交站点数据，含站点名称、途经线路和经纬度。")),
    ("dataofficer.jtw", "各区空气质量历史数据", "研究交通排放对空气质量的影响。", "STHJ",
     ("fulfilled", "各区近一年空气质量日报已开放，可通过 API 获取。")),
    ("citizen5", "小区业主名单和联系方式", "想联系小区其他业主成立业委会。", "ZJW",
     ("declined", "业主姓名和联系方式属于个人信息，不予开放；可通过街道、居委会协助召开业主大会。")),
    ("dataofficer.scjg", "涉案企业员工名单", "用于案件调查。", "RSJ",
     ("declined", "属于个人信息，不能通过数据目录提供；请按案件协查程序依法调取。")),
]


def _demands(session: Session, actors: _Actors, plans: list[Planned], by_name: dict[str, str]) -> dict[str, int]:
    opened = [p for p in plans if p.opens]
    fulfil = {"JTW": next((p for p in opened if p.data.name.startswith("bus-stops-")), None),
              "STHJ": next((p for p in opened if p.data.name.startswith("air-quality-")), None)}
    counts: Counter[str] = Counter()
    for username, title, description, target, answer in _DEMANDS:
        demand = datacat_service.create_demand(session, actors.user(username), title=title, description=description,
                                               target_department_id=f"{CITY_CODE}-{target}")
        status = "open"
        if answer is not None:
            status, text = answer
            resource = fulfil.get(target) if status == "fulfilled" else None
            if status == "fulfilled" and resource is None:
                status = "open"
            else:
                datacat_service.answer_demand(session, actors.officer(f"{CITY_CODE}-{target}"), demand.id,
                                              status=status, answer=text,
                                              resource_ref=by_name[resource.data.name] if resource else None)
        counts[f"{demand.requester_kind}/{status}"] += 1
    return dict(counts)


def _grant(session: Session, actors: _Actors, by_name: dict[str, str]) -> int:
    """公安 lets 民政 see the population base's 重要 fields unmasked (identity checks for relief)."""
    if "population-base" not in by_name:
        return 0
    datacat_service.grant(session, actors.officer(f"{CITY_CODE}-GAJ"), by_name["population-base"],
                          department_id=f"{CITY_CODE}-MZJ", max_sensitivity=5, purpose="社会救助对象身份核验")
    return 1


def summary_line(summary: dict[str, Any]) -> str:
    """The loader's one line about the data catalogue."""
    states = ", ".join(f"{k} {v}" for k, v in sorted(summary.get("states", {}).items()))
    demands = ", ".join(f"{k} {v}" for k, v in sorted(summary.get("demands", {}).items()))
    return (f"data catalogue: {summary['resources']} resources ({states}; {summary.get('late', 0)} late); "
            f"access requests {summary.get('access_requests', {})}; demands {demands}; "
            f"grants {summary.get('grants', 0)}; {len(summary.get('staff', []))} data officers; "
            f"in {summary.get('seconds', 0)}s")


def topics_covered(plans: list[Planned]) -> set[str]:
    return {p.data.topic for p in plans} & set(TOPICS)
