"""The demo's 一网统管: a city's category tree, routing rules per district to its departments and
street teams, thousands of events from every channel in every state, a classifier trained on the
closed ones, and one past emergency incident — all through the cityops service, as the demo
accounts themselves.

Events are spread over the last :data:`SPAN_DAYS` days. :func:`~yiwang.cityops.service.intake`
and :func:`~yiwang.cityops.service.escalate_overdue` take the moment as ``at=``; the other steps
(accept, handle, check, rate, reopen, triage, dispatch, return, incidents) read the service's
clock, which the loader sets to each step's moment while it runs (:class:`_Clock`), so every
event's timeline, deadlines and closing dates lie where a real event's would. The audit trail keeps
the real time of the load.

What is loaded, with ``events`` reports in all (default 3,000):

- older events (before the last :data:`RECENT_DAYS` days) are mostly closed — checked by the
  district dispatcher, rated by the citizens who reported them, a few reopened and closed again —
  some are still handled (waiting for the check), accepted or sent back (退单) and redispatched;
- the classifier is trained on the closed events, after which citizens' reports without a category
  are classified by it;
- recent events are in every open state: the triage queue (no location, outside the city, a
  category the classifier is unsure of), dispatched, accepted, returned, handled, reopened, closed;
- a few reports repeat an open event within metres and are merged into it;
- one past emergency incident: 暴雨积水 in 黄浦区, declared, its events routed to the district's
  应急抢险队 and handled, then stood down;
- finally the worker's overdue job escalates what is late, once per level.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import shapely
from shapely.geometry import Point
from shapely.geometry import shape as to_shape
from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.cityops import service as cityops_service
from yiwang.cityops.schemas import (
    STATUSES,
    CategoryCreate,
    CheckBody,
    DispatchBody,
    HandleBody,
    IncidentCreate,
    ReportIn,
    RuleCreate,
    TriageDecision,
)
from yiwang.core.actor import SYSTEM, Actor
from yiwang.core.db import utcnow
from yiwang.demo.city import STREETS, build_features
from yiwang.demo.staff import CITIZENS, load_cityops_staff
from yiwang.identity import service as identity_service

log = logging.getLogger("yiwang.demo")

DEFAULT_EVENTS = 3000
SPAN_DAYS = 28
RECENT_DAYS = 4
INCIDENT_DISTRICT = "310101"
INCIDENT_DAYS_AGO = 12
INCIDENT_EVENTS = 12

#: The category tree: (code, name, parent, level, urgency, deadlines, weight among reports).
CATEGORIES: list[tuple[str, str, str | None, str, str, dict[str, str], int]] = [
    ("SRHJ", "市容环境", None, "street", "normal", {"normal": "3d", "urgent": "8h", "critical": "2h"}, 0),
    ("SRHJ.BLLJ", "暴露垃圾", "SRHJ", "grid", "normal", {"normal": "1d", "urgent": "4h", "critical": "2h"}, 18),
    ("SRHJ.LDWL", "乱堆物料", "SRHJ", "grid", "normal", {"normal": "2d", "urgent": "8h", "critical": "2h"}, 8),
    ("SRHJ.ZDJY", "占道经营", "SRHJ", "street", "normal", {"normal": "1d", "urgent": "4h", "critical": "2h"}, 12),
    ("SRHJ.LZT", "乱张贴", "SRHJ", "grid", "normal", {"normal": "3d", "urgent": "1d", "critical": "4h"}, 6),
    ("JMZX", "街面秩序", None, "street", "normal", {"normal": "2d", "urgent": "4h", "critical": "1h"}, 0),
    ("JMZX.LTC", "乱停车", "JMZX", "street", "normal", {"normal": "1d", "urgent": "4h", "critical": "1h"}, 14),
    ("JMZX.WZTF", "无证摊贩", "JMZX", "street", "normal", {"normal": "1d", "urgent": "4h", "critical": "2h"}, 8),
    ("SSGL", "设施管理", None, "district", "normal", {"normal": "5d", "urgent": "1d", "critical": "4h"}, 0),
    ("SSGL.JGQS", "井盖缺损", "SSGL", "district", "urgent", {"normal": "2d", "urgent": "8h", "critical": "2h"}, 7),
    ("SSGL.LDBL", "路灯不亮", "SSGL", "district", "normal", {"normal": "3d", "urgent": "1d", "critical": "4h"}, 8),
    ("SSGL.DLPS", "道路破损", "SSGL", "district", "normal", {"normal": "5d", "urgent": "1d", "critical": "4h"}, 7),
    ("SSGL.YJMY", "窨井冒溢", "SSGL", "district", "urgent", {"normal": "1d", "urgent": "4h", "critical": "2h"}, 4),
    ("TFSJ", "突发事件", None, "district", "urgent", {"normal": "1d", "urgent": "4h", "critical": "1h"}, 0),
    ("TFSJ.DLJS", "道路积水", "TFSJ", "district", "urgent", {"normal": "1d", "urgent": "4h", "critical": "1h"}, 3),
    ("TFSJ.SMDF", "树木倒伏", "TFSJ", "district", "urgent", {"normal": "1d", "urgent": "4h", "critical": "1h"}, 3),
    ("TFSJ.RQXL", "燃气泄漏", "TFSJ", "district", "critical", {"normal": "4h", "urgent": "2h", "critical": "1h"}, 1),
]

#: Where each top category or leaf goes in every district: a district department (``LHSR`` …)
#: or ``street`` — the street office with its 城管中队 (per street rule), or ``grid`` — the street
#: office with the first community's grid worker (per community rule, elsewhere the street's).
ROUTES: dict[str, str] = {
    "SRHJ": "street", "JMZX": "street", "SRHJ.LZT": "grid",
    "SSGL": "ZJW", "SSGL.LDBL": "LHSR", "SSGL.YJMY": "SWJ",
    "TFSJ": "XFJY", "TFSJ.DLJS": "SWJ", "TFSJ.SMDF": "LHSR", "TFSJ.RQXL": "XFJY",
}

ROADS = ["南京东路", "河南中路", "福州路", "延安东路", "四川中路", "漕溪北路", "天钥桥路", "长宁路", "愚园路", "江宁路",
         "武宁路", "曹杨路", "四平路", "控江路", "国权路", "莘松路", "七莘路", "牡丹江路", "友谊路", "博乐路", "塔城路",
         "张杨路", "浦东南路", "世纪大道", "锦绣路", "人民路", "中山路", "沪松公路", "公园路", "南桥路", "城桥路"]
PLACES = ["小区东门", "地铁站出口", "菜市场门口", "公交站旁", "学校门口", "超市门前", "十字路口", "人行道上",
          "弄堂口", "绿化带边", "桥下", "商场后门", "医院附近", "居委会门口", "停车场入口"]
#: Per leaf category, templates of what people say ({road}, {no}, {place} filled in).
TEXTS: dict[str, list[str]] = {
    "SRHJ.BLLJ": ["{road}{no}号{place}有一堆生活垃圾没人清理，味道很大", "{place}垃圾桶满了，垃圾散落一地好几天了",
                  "{road}{place}有人乱倒垃圾，苍蝇很多", "{road}{no}号旁边装修垃圾和生活垃圾混在一起堆着没人收",
                  "{place}暴露垃圾，塑料袋和饭盒扔了一地"],
    "SRHJ.LDWL": ["{road}{no}号门口堆了很多建材占用人行道", "{place}有人堆放杂物和旧家具，影响通行",
                  "{road}{place}长期堆放砖块黄沙无人处理", "{road}{no}号店家把纸箱货物堆在人行道上"],
    "SRHJ.ZDJY": ["{road}{no}号商铺跨门经营，货架摆到人行道上", "{place}饭店在门口占道摆桌子，行人只能走机动车道",
                  "{road}{place}水果店出店经营，占用盲道", "{road}{no}号附近店家占用人行道洗车修车"],
    "SRHJ.LZT": ["{road}{place}墙上贴满小广告", "{place}电线杆上乱张贴办证小广告", "{road}{no}号墙面被涂写了很多电话号码",
                 "{place}有人乱发乱贴开锁广告"],
    "JMZX.LTC": ["{road}{no}号门口有车辆长期违停，堵住消防通道", "{place}机动车停在人行道上，行人没法走",
                 "{road}{place}共享单车乱停放，堵住了出入口", "{road}{no}号附近非机动车乱停一大片"],
    "JMZX.WZTF": ["{road}{place}晚上有无证摊贩摆摊卖烧烤，油烟很大", "{place}流动摊贩卖水果，占道严重",
                  "{road}{no}号附近每天早上有人摆摊卖菜", "{place}有无证小贩推车叫卖，影响交通"],
    "SSGL.JGQS": ["{road}{no}号门口井盖缺失，很危险", "{road}{place}井盖破损松动，车开过去哐哐响",
                  "{place}窨井盖不见了，只用一个路锥挡着", "{road}{no}号人行道上井盖塌陷"],
    "SSGL.LDBL": ["{road}{place}路灯不亮好几天了，晚上很黑", "{road}{no}号附近一排路灯都坏了",
                  "{place}路灯晚上一闪一闪的，时亮时不亮", "{road}{place}路灯白天亮着晚上反而不亮"],
    "SSGL.DLPS": ["{road}{no}号附近路面坑坑洼洼，下雨积水", "{road}{place}人行道地砖松动破损，老人容易绊倒",
                  "{place}道路塌陷出现一个大坑", "{road}{no}号门口路面开裂，电动车经过很颠"],
    "SSGL.YJMY": ["{road}{no}号门口窨井冒水，污水流到马路上", "{place}下水道堵塞，污水外溢很臭",
                  "{road}{place}雨水井冒溢，路面都是污水", "{road}{no}号化粪池满溢，污水漫到人行道"],
    "TFSJ.DLJS": ["{road}{place}积水很深，快没过车轮了", "{road}{no}号下立交积水，车辆无法通行",
                  "{place}暴雨后严重积水，行人过不去", "{road}{place}马路积水排不掉，水已经漫进商铺"],
    "TFSJ.SMDF": ["{road}{no}号门口大树被风刮倒，压住了路", "{place}行道树倒伏，横在马路上",
                  "{road}{place}一棵树歪倒压在电线上，很危险", "{road}{no}号附近树枝折断掉落，挡住人行道"],
    "TFSJ.RQXL": ["{road}{no}号楼道里有很浓的煤气味", "{place}闻到燃气泄漏的味道，怀疑管道漏气",
                  "{road}{no}号饭店后面燃气管道有嘶嘶声，味道很重"],
}
#: Texts the classifier cannot be sure of (the triage queue's ``low_confidence``).
VAGUE = ["这里有问题请尽快处理", "反映一个情况，麻烦派人来看看", "{road}这边情况很严重，希望有关部门管一管",
         "{place}一直这样，没人管"]
RESULTS = ["已到现场处置完毕，现场已恢复", "已通知责任单位整改，复查合格", "已清理完毕，并加强巡查",
           "已完成维修，恢复正常使用", "已劝导当事人自行整改，现场恢复整洁", "已联合相关部门处置完毕"]
RATING_COMMENTS = {5: "处理很及时，点赞", 4: "处理得不错", 3: "处理了，但是慢了一点", 2: "处理不彻底，问题还在",
                   1: "根本没有处理好"}
RETURN_REASONS = ["不属于本单位职责范围，请改派", "事发地点不在本辖区", "该问题属于物业管理范围，请改派相关部门"]

#: Channel mix of reports: 随手拍, 12345, 巡查.
CHANNEL_WEIGHTS = {"citizen": 45, "hotline": 30, "patrol": 25}


class _Clock:
    """Sets the cityops service's clock to the step's moment while the loader runs (see module doc)."""

    def __init__(self) -> None:
        self.real = cityops_service.utcnow

    def set(self, moment: datetime) -> None:
        cityops_service.utcnow = lambda: moment  # type: ignore[assignment]

    def restore(self) -> None:
        cityops_service.utcnow = self.real  # type: ignore[assignment]


@contextmanager
def _clock() -> Iterator[_Clock]:
    clock = _Clock()
    try:
        yield clock
    finally:
        clock.restore()


@dataclass
class _Setup:
    rules: int
    teams: dict[str, str]
    handlers: dict[str, str]
    """Department or team id → the username of a handler who takes its events."""
    grid_workers: dict[str, str]
    """User id → username of the grid workers named by routing rules."""
    staff: list[dict[str, Any]]


def _grid_shapes() -> dict[str, Any]:
    features, _ = build_features()
    return {f["properties"]["code"]: to_shape(f["geometry"]) for f in features
            if f["properties"]["level"] == "grid"}


def _point_in(rng: random.Random, geom: Any) -> tuple[float, float]:
    x0, y0, x1, y1 = geom.bounds
    for _ in range(50):
        p = Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if geom.contains(p):
            return round(p.x, 6), round(p.y, 6)
    c = shapely.get_coordinates(geom.representative_point())[0]
    return float(c[0]), float(c[1])


def _setup(session: Session, district_codes: list[str]) -> _Setup:
    """Categories, a 城管中队 per street and an 应急抢险队 in :data:`INCIDENT_DISTRICT`, their
    handlers, and the routing rules of every district."""
    for code, name, parent, level, urgency, deadlines, _ in CATEGORIES:
        cityops_service.create_category(session, SYSTEM, CategoryCreate(
            code=code, name=name, parent_code=parent, level=level, urgency=urgency, deadlines=deadlines))
    departments = {d.code: d.id for d in areas_service.list_departments(session)}
    teams: dict[str, str] = {}
    for d in district_codes:
        for scode, sname in STREETS.get(d, []):
            office = departments.get(f"{scode}-JDB")
            if office is None:
                continue
            team = areas_service.create_department(session, SYSTEM, code=f"{scode}-CGZD", name=f"{sname}城管中队",
                                                   area_code=scode, kind="team", parent_id=office)
            teams[team.code] = team.id
    if f"{INCIDENT_DISTRICT}-CYZX" in departments and INCIDENT_DISTRICT in district_codes:
        team = areas_service.create_department(session, SYSTEM, code=f"{INCIDENT_DISTRICT}-YJQX", name="黄浦区应急抢险队",
                                               area_code=INCIDENT_DISTRICT, kind="team",
                                               parent_id=departments[f"{INCIDENT_DISTRICT}-CYZX"])
        teams[team.code] = team.id
    staff = load_cityops_staff(session, district_codes=district_codes, departments=departments, teams=teams)
    by_code = {s["scope"].split("/", 1)[1]: s["username"] for s in staff}
    handlers = {departments[c] if c in departments else teams[c]: u for c, u in by_code.items()}

    grid_workers: dict[str, str] = {}
    rules = 0
    for d in district_codes:
        for category, target in ROUTES.items():
            if target in ("street", "grid"):
                for scode, _ in STREETS.get(d, []):
                    office, team = departments.get(f"{scode}-JDB"), teams.get(f"{scode}-CGZD")
                    if office is None:
                        continue
                    handlers.setdefault(office, f"handler.{scode}")
                    if target == "street":
                        body = RuleCreate(category_code=category, area_prefix=scode, department_id=office,
                                          team_id=team)
                    else:
                        worker = identity_service.get_user_by_username(session, SYSTEM, f"grid.{scode}001")
                        grid_workers[worker.id] = worker.username
                        cityops_service.create_rule(session, SYSTEM, RuleCreate(
                            category_code=category, area_prefix=f"{scode}001", department_id=office,
                            user_id=worker.id))
                        rules += 1
                        body = RuleCreate(category_code=category, area_prefix=scode, department_id=office,
                                          team_id=team)
                    cityops_service.create_rule(session, SYSTEM, body)
                    rules += 1
            elif f"{d}-{target}" in departments:
                cityops_service.create_rule(session, SYSTEM, RuleCreate(
                    category_code=category, area_prefix=d, department_id=departments[f"{d}-{target}"]))
                handlers.setdefault(departments[f"{d}-{target}"], f"handler.{d}.{target.lower()}")
                rules += 1
    return _Setup(rules=rules, teams=teams, handlers=handlers, grid_workers=grid_workers, staff=staff)


class _Loader:
    """The state of one load: the random source, the actors by username, the clock."""

    def __init__(self, session: Session, setup: _Setup, clock: _Clock, now: datetime, seed: int) -> None:
        self.session, self.setup, self.clock, self.now = session, setup, clock, now
        self.rng = random.Random(seed)
        self.actors: dict[str, Actor] = {}
        self.grids = _grid_shapes()
        self.grid_codes = sorted(self.grids)
        self.leaves = [(c[0], c[6]) for c in CATEGORIES if c[6]]
        self.user_names: dict[str, str] = {}
        self.outcomes: Counter[str] = Counter()
        self.merged = 0
        self.open_points: list[tuple[str, float, float, str, datetime]] = []
        self.incident_id: str | None = None
        self.kind_roll = _Rolls(0.6180339887498949)
        self.goal_roll = _Rolls(0.4142135623730951, 0.25)

    # -- who and when ------------------------------------------------------------------------------
    def actor(self, username: str) -> Actor:
        if username not in self.actors:
            self.actors[username] = identity_service.actor_for_username(self.session, username, mfa=True)
            if self.actors[username].user_id:
                self.user_names[self.actors[username].user_id] = username
        return self.actors[username]

    def at(self, moment: datetime) -> datetime:
        """Set the clock to ``moment`` (never later than the real now) and return it."""
        moment = min(moment, self.now - timedelta(minutes=1))
        self.clock.set(moment)
        return moment

    def after(self, moment: datetime, low_h: float, high_h: float) -> datetime:
        return self.at(moment + timedelta(hours=self.rng.uniform(low_h, high_h)))

    def handler(self, ev: Any) -> Actor:
        if ev.assignee_user_id:
            return self.actor(self.setup.grid_workers[ev.assignee_user_id])
        for dept in (ev.assignee_team_id, ev.assignee_department_id):
            if dept and dept in self.setup.handlers:
                return self.actor(self.setup.handlers[dept])
        raise LookupError(f"no demo handler for the assignee of event {ev.id}")

    def dispatcher(self, ev: Any) -> Actor:
        district = ev.district_code
        return self.actor(f"dispatcher.{district}" if len(district) == 6 else "dispatcher")

    # -- what --------------------------------------------------------------------------------------
    def text(self, category: str) -> str:
        return self.rng.choice(TEXTS[category]).format(road=self.rng.choice(ROADS), no=self.rng.randint(1, 999),
                                                       place=self.rng.choice(PLACES))

    def vague(self) -> str:
        return self.rng.choice(VAGUE).format(road=self.rng.choice(ROADS), place=self.rng.choice(PLACES))

    def category(self) -> str:
        return self.rng.choices([c for c, _ in self.leaves], weights=[w for _, w in self.leaves])[0]

    def report(self, moment: datetime, *, category: str | None = None, give_category: bool = True,
               text: str | None = None, point: tuple[float, float] | None = None, area_code: str | None = None,
               channel: str | None = None, grid: str | None = None) -> Any:
        """One report through :func:`intake` as the channel's real reporter; returns the outcome."""
        channel = channel or self.rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
        category = category or self.category()
        if grid is None:
            grid = self.rng.choice(self.grid_codes)
        phone = None
        if channel == "citizen":
            actor = self.actor(f"citizen{self.rng.randint(1, CITIZENS)}")
        elif channel == "hotline":
            actor = self.actor("hotline")
            phone = f"1{self.rng.choice('3589')}{self.rng.randint(0, 999_999_999):09d}"
        else:
            grid = f"{grid[:9]}001{grid[12:]}"  # in the community of the street's grid worker
            actor = self.actor(f"grid.{grid[:12]}")
        if point is None and area_code is None:
            point = _point_in(self.rng, self.grids[grid])
        body = ReportIn(description=text or self.text(category), category_code=category if give_category else None,
                        lon=point[0] if point else None, lat=point[1] if point else None, area_code=area_code,
                        address=None)
        self.at(moment)
        out = cityops_service.intake(self.session, actor, channel, body, caller_phone=phone, at=moment)
        self.outcomes[f"{channel}"] += 1
        if out.merged:
            self.merged += 1
        elif point is not None and give_category:
            self.open_points.append((category, point[0], point[1], body.description, moment))
        return out

    # -- the life of an event ----------------------------------------------------------------------
    def event(self, event_id: str) -> Any:
        """The event's row as the service left it (no staff read: nothing to audit)."""
        return cityops_service.demo_event(self.session, event_id)

    def triage(self, ev: Any, moment: datetime, category: str | None = None) -> Any:
        """The dispatcher decides an event of the triage queue (placing it in a grid when it has no place)."""
        actor = self.actor("dispatcher") if len(ev.district_code) < 6 else self.dispatcher(ev)
        area = None if len(ev.district_code) >= 6 else self.rng.choice(self.grid_codes)
        self.after(moment, 0.2, 1.5)
        return cityops_service.triage_event(self.session, actor, ev.id, TriageDecision(
            category_code=category or ev.category_code or self.category(), area_code=area))

    def run(self, ev: Any, moment: datetime, goal: str) -> Any:
        """Take a dispatched event to ``goal``: accepted, returned, handled, closed, rated,
        reopened (and ``reclosed``: reopened, handled and closed again)."""
        if ev.status != "dispatched" or goal == "dispatched":
            return ev
        handler = self.handler(ev)
        t = self.after(moment, 0.2, 3)
        if goal == "returned":
            return cityops_service.return_event(self.session, handler, ev.id, self.rng.choice(RETURN_REASONS))
        ev = cityops_service.accept(self.session, handler, ev.id)
        if goal == "accepted":
            return ev
        t = self.after(t, 1, 20)
        if self.rng.random() < 0.3:
            cityops_service.handle(self.session, handler, ev.id, HandleBody(note="已到现场查看，正在处置"))
            t = self.after(t, 0.5, 6)
        ev = cityops_service.handle(self.session, handler, ev.id, HandleBody(finish=True, result=self.rng.choice(RESULTS)))
        if goal == "handled":
            return ev
        t = self.after(t, 1, 24)
        ev = cityops_service.check(self.session, self.dispatcher(ev), ev.id, CheckBody(passed=True, note="核查通过"))
        reporter = self.citizen_of(ev)
        if reporter is None:
            return ev
        if goal in ("reopened", "reclosed"):
            t = self.after(t, 2, 60)
            ev = cityops_service.reopen(self.session, reporter, ev.id, "问题没有解决，又出现了")
            if goal == "reopened":
                return ev
            return self.run_reopened(ev, t)
        if goal == "rated" or self.rng.random() < 0.6:
            self.after(t, 1, 30)
            score = self.rng.choices([5, 4, 3, 2, 1], weights=[50, 28, 12, 7, 3])[0]
            ev = cityops_service.rate(self.session, reporter, ev.id, score, RATING_COMMENTS[score])
        return ev

    def run_reopened(self, ev: Any, moment: datetime) -> Any:
        handler = self.handler(ev)
        t = self.after(moment, 0.5, 4)
        cityops_service.accept(self.session, handler, ev.id)
        t = self.after(t, 2, 20)
        cityops_service.handle(self.session, handler, ev.id, HandleBody(finish=True, result="已再次处置，并安排定期巡查"))
        self.after(t, 1, 12)
        return cityops_service.check(self.session, self.dispatcher(ev), ev.id, CheckBody(passed=True, note="复核通过"))

    def citizen_of(self, ev: Any) -> Actor | None:
        if ev.channel != "citizen":
            return None
        user_id = cityops_service.demo_reporter(self.session, ev.id)
        return self.actor(self.user_names[user_id]) if user_id in self.user_names else None


def _pick(roll: float, weighted: list[tuple[str, int]]) -> str:
    total, acc = sum(w for _, w in weighted), 0.0
    for name, w in weighted:
        acc += w / total
        if roll < acc:
            return name
    return weighted[-1][0]


_OLDER_GOALS = [("closed", 70), ("rated", 12), ("reclosed", 3), ("reopened", 1), ("handled", 4), ("accepted", 3),
                ("redispatched", 4)]
_RECENT_GOALS = [("dispatched", 25), ("accepted", 22), ("returned", 6), ("handled", 14), ("closed", 25),
                 ("rated", 6), ("reopened", 3)]
_BY_REPORTER = ("rated", "reopened", "reclosed")
"""Goals only a citizen reporter can reach (rating, reopening)."""


class _Rolls:
    """Evenly spread "random" numbers in [0, 1) (a Weyl sequence): every branch of the loader gets
    its share even in a small demo, while the order still looks random."""

    def __init__(self, step: float, start: float = 0.5) -> None:
        self.step, self.x = step, start

    def __call__(self) -> float:
        self.x = (self.x + self.step) % 1.0
        return self.x


def load_cityops(session: Session, *, district_codes: list[str], events: int = DEFAULT_EVENTS,
                 seed: int = 1) -> dict[str, Any]:
    """Load the demo's 一网统管 (in the caller's transaction, as the demo accounts); the demo city
    and its staff must be loaded. Returns the counts the loader prints."""
    setup = _setup(session, district_codes)
    now = utcnow().astimezone(UTC)
    start = now - timedelta(days=SPAN_DAYS)
    recent = now - timedelta(days=RECENT_DAYS)
    with _clock() as clock:
        d = _Loader(session, setup, clock, now, seed)
        rng = d.rng
        n_recent = max(1, events * 3 // 10)
        n_older = max(0, events - n_recent - INCIDENT_EVENTS)
        older = sorted(start + timedelta(seconds=rng.uniform(0, (recent - start).total_seconds()))
                       for _ in range(n_older))
        incident_at = now - timedelta(days=INCIDENT_DAYS_AGO)
        incident_done = INCIDENT_DISTRICT not in district_codes

        for moment in older:
            if not incident_done and moment >= incident_at:
                _incident(d, incident_at)
                incident_done = True
            _older(d, moment)
        if not incident_done:
            _incident(d, incident_at)

        # The classifier learns from the closed events; recent citizens' reports rely on it.
        d.at(recent)
        training = cityops_service.train_classifier(session, SYSTEM)

        for moment in sorted(recent + timedelta(seconds=rng.uniform(0, (now - recent).total_seconds() - 600))
                             for _ in range(n_recent)):
            _recent(d, moment)
    escalated = 0
    while True:
        n = cityops_service.escalate_overdue(session, now)
        escalated += n
        if n < cityops_service.ESCALATION_BATCH:
            break
    session.flush()
    log.info("demo city events loaded", extra={"reports": sum(d.outcomes.values()), "escalated": escalated})
    states = cityops_service.demo_status_counts(session)
    return {"categories": len(CATEGORIES), "rules": setup.rules, "teams": len(setup.teams),
            "staff": setup.staff, "reports": sum(d.outcomes.values()), "merged": d.merged,
            "events": sum(states.values()), "states": states, "channels": dict(d.outcomes),
            "classifier": training, "incidents": 1 if d.incident_id else 0, "escalated": escalated}


def summary_line(summary: dict[str, Any]) -> str:
    """The loader's one line about 一网统管."""
    states = ", ".join(f"{s} {summary['states'].get(s, 0)}" for s in STATUSES)
    channels = ", ".join(f"{c} {n}" for c, n in sorted(summary["channels"].items()))
    training = summary["classifier"]
    accuracy = "n/a" if training.accuracy is None else f"{training.accuracy:.2f}"
    return (f"city events: {summary['events']} from {summary['reports']} reports ({channels}; "
            f"{summary['merged']} merged) — {states}; escalated {summary['escalated']}; "
            f"{summary['categories']} categories, {summary['rules']} routing rules, {summary['teams']} teams, "
            f"{len(summary['staff'])} handlers; classifier on {training.samples} events (accuracy {accuracy}); "
            f"past emergency incidents {summary['incidents']}")


def _older(d: _Loader, moment: datetime) -> None:
    roll = d.kind_roll()
    if roll < 0.03 and d.open_points:
        _duplicate(d, moment)
        return
    if roll < 0.08:  # a citizen who gives no category (no classifier yet): the dispatcher decides
        category = d.category()
        out = d.report(moment, category=category, give_category=False, channel="citizen")
        ev = d.event(d.triage(d.event(out.event_id), moment, category).id)
        moment += timedelta(hours=2)
    elif roll < 0.10:  # a hotline call with no place: placed by the city's dispatcher
        out = _unplaced(d, moment)
        ev = d.event(d.triage(d.event(out.event_id), moment).id)
        moment += timedelta(hours=2)
    goal = _pick(d.goal_roll(), _OLDER_GOALS)
    if roll >= 0.10:
        out = d.report(moment, channel="citizen" if goal in _BY_REPORTER else None)
        ev = d.event(out.event_id) if not out.merged else None
    if ev is None or ev.status != "dispatched":
        return
    if goal == "redispatched":
        ev = d.run(ev, moment, "returned")
        moment = d.after(moment, 3, 8)
        cityops_service.dispatch(d.session, d.dispatcher(ev), ev.id, DispatchBody(
            department_id=_other_target(d, ev), note="改派至责任部门"))
        ev, goal = d.event(ev.id), "closed"
    d.run(ev, moment, goal)


def _other_target(d: _Loader, ev: Any) -> str:
    """The department a dispatcher re-sends a returned event to: the district's 城管执法局 or,
    failing that, any department with a demo handler."""
    departments = {v: k for k, v in d.setup.handlers.items()}
    wanted = f"handler.{ev.district_code}.zjw"
    return departments.get(wanted) or next(iter(d.setup.handlers))


def _unplaced(d: _Loader, moment: datetime) -> Any:
    """A 12345 call the operator could not place (no address given)."""
    category = d.category()
    d.at(moment)
    d.outcomes["hotline"] += 1
    return cityops_service.intake(d.session, d.actor("hotline"), "hotline", ReportIn(
        description=d.text(category), category_code=category),
        caller_phone=f"139{d.rng.randint(0, 99_999_999):08d}", at=moment)


def _duplicate(d: _Loader, moment: datetime) -> None:
    """A second reporter of an open problem a few metres away, within a day: merged."""
    category, lon, lat, text, first = d.open_points[-1]
    if moment - first > timedelta(hours=20):
        moment = first + timedelta(hours=d.rng.uniform(0.2, 3))
    d.report(max(moment, first + timedelta(minutes=5)), category=category, text=text,
             point=(lon + 0.0001, lat + 0.00005), channel="citizen")


def _recent(d: _Loader, moment: datetime) -> None:
    rng = d.rng
    roll = d.kind_roll()
    if roll < 0.04 and d.open_points:
        _duplicate(d, moment)
        return
    if roll < 0.07:
        _unplaced(d, moment)  # waits in the triage queue: no location
        return
    if roll < 0.09:  # a point outside every district of the city: triage (outside_city)
        d.report(moment, channel="citizen", point=(120.95 + rng.uniform(0, 0.05), 31.70 + rng.uniform(0, 0.05)))
        return
    if roll < 0.11:  # too vague for the classifier: triage (low_confidence or no_category)
        d.report(moment, channel="citizen", give_category=False, text=d.vague())
        return
    goal = _pick(d.goal_roll(), _RECENT_GOALS)
    # a third of citizens give no category: the trained classifier decides
    out = d.report(moment, channel="citizen" if roll < 0.35 or goal in _BY_REPORTER else None,
                   give_category=roll >= 0.35)
    if out.merged:
        return
    ev = d.event(out.event_id)
    if ev.status == "dispatched":
        d.run(ev, moment, goal)


def _incident(d: _Loader, declared: datetime) -> None:
    """暴雨积水: 黄浦区's dispatcher declares an incident; the water and overflow reports of the
    next hours go to the 应急抢险队, which handles them; stood down the next day."""
    team = d.setup.teams.get(f"{INCIDENT_DISTRICT}-YJQX")
    if team is None:
        return
    departments = {x.code: x.id for x in areas_service.list_departments(d.session)}
    dispatcher = d.actor(f"dispatcher.{INCIDENT_DISTRICT}")
    d.at(declared)
    incident = cityops_service.declare_incident(d.session, dispatcher, IncidentCreate(
        name="暴雨黄色预警道路积水处置", area_code=INCIDENT_DISTRICT, categories=["TFSJ.DLJS", "SSGL.YJMY", "TFSJ.SMDF"],
        department_id=departments[f"{INCIDENT_DISTRICT}-CYZX"], team_id=team, deadline="2h", priority=100))
    grids = [g for g in d.grid_codes if g.startswith(INCIDENT_DISTRICT)]
    for i in range(INCIDENT_EVENTS):
        moment = declared + timedelta(minutes=20 + i * 25)
        category = ["TFSJ.DLJS", "TFSJ.DLJS", "SSGL.YJMY", "TFSJ.SMDF"][i % 4]
        out = d.report(moment, category=category, grid=d.rng.choice(grids), channel="hotline" if i % 2 else "patrol")
        if not out.merged:
            d.run(d.event(out.event_id), moment, "closed")
    d.at(declared + timedelta(hours=20))
    cityops_service.stand_down(d.session, dispatcher, incident.id)
    d.incident_id = incident.id
