"""Generated registry data for the demo city: persons (人口) and legal entities (法人).

Everything is synthetic but well-formed: Chinese names drawn from common surnames and given-name
characters, resident ID numbers whose first six digits are the person's district code with a real
birth date and a valid GB 11643 check digit (the sequence digit's parity matches the gender),
valid mainland mobiles, street addresses, and unified social credit codes whose organisation code
carries a valid GB 11714 check character and the whole a valid GB 32100 check character. The same
seed gives the same data. Loading goes through the registry's own bulk import path, as SYSTEM.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from yiwang.core.actor import SYSTEM
from yiwang.core.validators import resident_id_check_char, uscc_check_char
from yiwang.registry import service as registry_service
from yiwang.registry.schemas import ImportReport

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
COMPOUND_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫")
MALE_CHARS = "伟强磊军勇杰涛斌超明刚平辉鹏华飞鑫波宇浩凯健俊帆帅旭宁龙林欢阳建国志文博宏海峰晨昊然睿轩"
FEMALE_CHARS = "芳娜敏静丽艳娟霞秀英慧巧美琳婷雪颖倩玲佳欣怡梦晨悦涵萱雨嘉琪思诗瑶婉妍薇璐洁琴蕾月"
ROADS = (
    "南京东路", "南京西路", "淮海中路", "西藏中路", "复兴中路", "中山南路", "四川北路", "肇嘉浜路", "漕溪北路",
    "衡山路", "天钥桥路", "虹桥路", "长宁路", "武宁路", "大渡河路", "曹杨路", "共和新路", "延长路", "四平路",
    "黄兴路", "世纪大道", "张杨路", "浦东南路", "东方路", "龙阳路", "锦绣路", "莲花路", "沪闵路", "吴中路",
)
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
                   "155", "156", "157", "158", "159", "166", "173", "176", "177", "180", "181", "182", "183",
                   "185", "186", "187", "188", "189", "191", "198", "199")
BRAND_CHARS = "华信达盛鑫源恒泰瑞丰宏远嘉和博通新创联兴汇德正益安康祥润广晟凯锦隆辰星宇智云"
#: Industry section (GB/T 4754) → words a company name of that trade uses, with a weight.
TRADES: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("F", ("贸易", "商贸", "百货", "进出口"), 22),
    ("I", ("信息科技", "网络科技", "软件", "数据技术"), 12),
    ("L", ("企业管理咨询", "商务咨询", "人力资源", "广告"), 14),
    ("H", ("餐饮管理", "酒店管理", "小吃店"), 10),
    ("E", ("建筑工程", "装饰工程", "建设"), 7),
    ("C", ("精密制造", "机械", "电子", "服饰"), 8),
    ("M", ("检测技术", "生物科技", "工程设计"), 6),
    ("G", ("物流", "货运代理", "快递"), 5),
    ("K", ("物业管理", "房地产经纪"), 4),
    ("R", ("文化传媒", "体育发展", "影视"), 4),
    ("O", ("家政服务", "美容美发", "汽车维修"), 4),
    ("Q", ("医疗门诊部", "养老服务"), 2),
    ("P", ("教育科技", "培训学校"), 2),
)
FORMS = (("有限公司", 80), ("股份有限公司", 6), ("合伙企业（有限合伙）", 4), ("个体工商户", 10))
SIZES = (("micro", 60), ("small", 25), ("medium", 10), ("large", 5))
STATUSES = (("active", 88), ("revoked", 4), ("deregistered", 6), ("moved_out", 2))
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = "0123456789ABCDEFGHJKLMNPQRTUWXY"
UNIFIED_CODES_FROM = date(2015, 10, 1)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, int], ...]) -> Any:
    return rng.choices([w[0] for w in weighted], weights=[w[1] for w in weighted])[0]


def _district(code: str) -> str:
    """The six-digit GB/T 2260 code an area's residents' ID numbers start with."""
    return (code + "0000")[:6] if len(code) < 6 else code[:6]


def chinese_name(rng: random.Random, male: bool) -> str:
    surname = rng.choice(COMPOUND_SURNAMES) if rng.random() < 0.01 else rng.choice(SURNAMES)
    chars = MALE_CHARS if male else FEMALE_CHARS
    given = rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.7 else "")
    return surname + given


def _birth_date(rng: random.Random, today: date) -> date:
    # Roughly a city's age pyramid: fewer children and very old people than adults.
    age = min(95, max(0, int(rng.triangular(0, 95, 38))))
    born = today - timedelta(days=age * 365 + rng.randrange(365))
    return born if born <= today else today


def _org_code(rng: random.Random, registered: date) -> str:
    """A 9-character organisation code (GB 11714) with its check character: eight digits for an
    entity registered before the unified codes (October 2015), "MA" + six characters after."""
    if registered < UNIFIED_CODES_FROM:
        body = "".join(rng.choice("0123456789") for _ in range(8))
    else:
        body = "MA" + "".join(rng.choice(_ORG_BODY) for _ in range(6))
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return body + ("X" if check == 10 else "0" if check == 11 else str(check))


def generate_persons(area_codes: list[str], n: int, seed: int) -> list[dict[str, str]]:
    """``n`` synthetic persons spread over ``area_codes`` (rows for ``registry.import_persons``)."""
    rng = random.Random(f"persons:{seed}")
    today = date.today()
    used: set[str] = set()
    out: list[dict[str, str]] = []
    while len(out) < n:
        area = rng.choice(area_codes)
        male = rng.random() < 0.5
        born = _birth_date(rng, today)
        seq = rng.randrange(0, 500) * 2 + (1 if male else 0)
        first17 = f"{_district(area)}{born:%Y%m%d}{seq:03d}"
        number = first17 + resident_id_check_char(first17)
        if number in used:
            continue
        used.add(number)
        age = today.year - born.year
        phone = rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}" if age >= 12 else ""
        address = (f"上海市{rng.choice(ROADS)}{rng.randint(1, 1500)}弄{rng.randint(1, 60)}号"
                   f"{rng.randint(1, 30)}{rng.randint(1, 12):02d}室")
        out.append({"name": chinese_name(rng, male), "id_number": number, "phone": phone, "address": address,
                    "area_code": area})
    return out


def generate_entities(area_codes: list[str], n: int, seed: int) -> list[dict[str, str]]:
    """``n`` synthetic legal entities spread over ``area_codes`` (rows for ``registry.import_entities``)."""
    rng = random.Random(f"entities:{seed}")
    today = date.today()
    trades = tuple((t, t[2]) for t in TRADES)
    used: set[str] = set()
    out: list[dict[str, str]] = []
    while len(out) < n:
        area = rng.choice(area_codes)
        form = _pick(rng, FORMS)
        kind = "2" if form == "个体工商户" else "1"
        registered = today - timedelta(days=rng.randrange(1, 35 * 365))
        first17 = f"9{kind}{_district(area)}{_org_code(rng, registered)}"
        code = first17 + uscc_check_char(first17)
        if code in used:
            continue
        used.add(code)
        section, words, _ = _pick(rng, trades)
        brand = rng.choice(BRAND_CHARS) + rng.choice(BRAND_CHARS)
        if form == "个体工商户":
            name = f"上海市{brand}{rng.choice(words)}（个体工商户）"
            size = "micro"
        else:
            name = f"上海{brand}{rng.choice(words)}{form}"
            size = _pick(rng, SIZES)
        out.append({
            "uscc": code, "name": name, "legal_representative": chinese_name(rng, rng.random() < 0.6),
            "registered_address": f"上海市{rng.choice(ROADS)}{rng.randint(1, 2000)}号{rng.randint(1, 30)}楼",
            "area_code": area, "industry": section, "size": size,
            "registration_date": registered.isoformat(), "status": _pick(rng, STATUSES),
        })
    return out


def _checked(report: ImportReport) -> int:
    if report.refused:
        first = "; ".join(f"line {e.line}: {e.column}: {e.problem}" for e in report.errors[:5])
        raise RuntimeError(f"demo {report.kind} refused by the registry import: {first}")
    return report.imported


def load_registry(session: Session, area_codes: list[str], persons: int = 20_000, entities: int = 5_000,
                  seed: int = 1) -> dict[str, int]:
    """Generate and insert persons and entities through the registry's bulk import (as SYSTEM, one
    audit entry for each kind); returns the counts."""
    people = generate_persons(area_codes, persons, seed) if persons else []
    firms = generate_entities(area_codes, entities, seed) if entities else []
    done = {"persons": 0, "entities": 0}
    if people:
        done["persons"] = _checked(registry_service.import_persons(
            session, SYSTEM, enumerate(people, start=2), source="demo"))
    if firms:
        done["entities"] = _checked(registry_service.import_entities(
            session, SYSTEM, enumerate(firms, start=2), source="demo"))
    return done
