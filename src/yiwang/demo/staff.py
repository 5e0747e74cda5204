"""Demo accounts for every role, at city, district and street scope, through identity's services.

Every demo account's password is :data:`DEMO_PASSWORD`. Accounts whose roles need two-factor
sign-in have TOTP pre-enrolled with :data:`DEMO_TOTP_SECRET`, so the demo can be signed into from
any authenticator app (or ``python -c "import pyotp; print(pyotp.TOTP('…').now())"``).

DEMO ONLY: a shared, published password and TOTP secret are exactly what a real installation must
never have. The loader refuses nothing about that; ``yiwang demo load`` is for demo databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from yiwang.core.actor import SYSTEM
from yiwang.core.jobs import settings_for
from yiwang.demo.catalog import build_document
from yiwang.identity import service as identity_service

DEMO_PASSWORD = "Yiwang-demo-2026"  # noqa: S105 - the documented demo password (demo only)
DEMO_TOTP_SECRET = "YIWANGDEMOTOTPSECRETABCDEFGHIJKL"  # noqa: S105 - documented demo TOTP secret (demo only)
CITIZENS = 5
ENTERPRISE_AGENTS = 3


def _dept(departments: dict[str, str], code: str) -> str | None:
    return departments.get(code)


def item_departments() -> list[str]:
    """Codes of the city departments that own a demo catalogue item (``31-SCJG``, ``31-WJW`` …), in
    the catalogue's order: each gets an approver (审批人员) and a head (负责人) among the demo accounts."""
    return list(dict.fromkeys(i["department"] for i in build_document()["items"]))


def load_staff(
    session: Session, *, district_codes: list[str], street_codes: list[str], departments: dict[str, str]
) -> list[dict[str, Any]]:
    """Create the demo accounts (as SYSTEM, in the caller's transaction); returns one dict per
    account: ``username``, ``role``, ``scope`` (area code, with ``/department code`` when limited),
    ``totp`` (whether TOTP is pre-enrolled)."""
    settings = settings_for(session)
    city = district_codes[0][:2] if district_codes else "31"
    dept_code = {v: k for k, v in departments.items()}
    # One hash for all: every demo account has the same password, and hashing it hundreds of times
    # at production cost would only slow the demo down.
    password_hash = identity_service.hash_password(settings, DEMO_PASSWORD)
    needs_totp = {r.code for r in identity_service.get_policy(session).roles if r.requires_mfa}

    plan: list[tuple[str, str, str, str, str | None]] = []  # username, kind, role, area, department id

    def add(username: str, role: str, area: str, department_code: str | None = None, kind: str = "staff") -> None:
        plan.append((username, kind, role, area, _dept(departments, department_code) if department_code else None))

    add("sysadmin", "sys_admin", city)
    add("secadmin", "security_admin", city)
    add("auditor", "audit_admin", city)
    add("leader", "leader", city)
    add("catalog", "catalog_admin", city)
    add("dataofficer", "data_officer", city, f"{city}-SJJ")
    add("hotline", "hotline_operator", city, f"{city}-12345")
    add("dispatcher", "dispatcher", city, f"{city}-CYZX")
    add("clerk", "clerk", city)
    add("approver.scjg", "approver", city, f"{city}-SCJG")
    # An approver and a head (leader over that department only: receives its overdue escalations)
    # for every department owning a catalogue item, so every demo application has someone to
    # decide it. A department the city lacks gets none: a grant without it would cover them all.
    for code in item_departments():
        suffix = code.split("-", 1)[1].lower()
        if code not in departments:
            continue
        if code != f"{city}-SCJG":
            add(f"approver.{suffix}", "approver", city, code)
        add(f"head.{suffix}", "leader", city, code)
    for d in district_codes:
        add(f"sysadmin.{d}", "sys_admin", d)
        add(f"leader.{d}", "leader", d)
        add(f"clerk.{d}", "clerk", d)
        add(f"approver.scjg.{d}", "approver", d, f"{d}-SCJG")
        add(f"dispatcher.{d}", "dispatcher", d, f"{d}-CYZX")
        add(f"handler.{d}", "handler", d, f"{d}-CGZF")
    for s in street_codes:
        add(f"dispatcher.{s}", "dispatcher", s, f"{s}-JDB")
        add(f"handler.{s}", "handler", s, f"{s}-JDB")
        add(f"grid.{s}001", "grid_worker", f"{s}001")
    for i in range(1, CITIZENS + 1):
        add(f"citizen{i}", "citizen", city, kind="citizen")
    for i in range(1, ENTERPRISE_AGENTS + 1):
        add(f"enterprise{i}", "enterprise_agent", city, kind="enterprise")

    out: list[dict[str, Any]] = []
    for username, kind, role, area, department_id in plan:
        user = identity_service.create_user(
            session, SYSTEM, username=username, password=None, kind=kind,
            display_name=_display_name(username, role), grants=[(role, area, department_id)], settings=settings,
        )
        identity_service.import_password_hash(session, SYSTEM, user.id, password_hash)
        totp = role in needs_totp
        if totp:
            identity_service.enroll_totp_secret(session, user.id, DEMO_TOTP_SECRET, settings=settings)
        scope = area + (f"/{dept_code[department_id]}" if department_id else "")
        out.append({"username": username, "role": role, "scope": scope, "totp": totp})
    return out


_ROLE_ZH = {
    "sys_admin": "系统管理员", "security_admin": "安全管理员", "audit_admin": "审计管理员", "leader": "领导",
    "data_officer": "数据专员", "hotline_operator": "话务员", "dispatcher": "派单员", "clerk": "窗口人员",
    "approver": "审批人员", "handler": "处置人员", "grid_worker": "网格员", "citizen": "市民",
    "enterprise_agent": "企业经办人",
}


def _display_name(username: str, role: str) -> str:
    suffix = username.split(".")[-1] if "." in username else ""
    if username.startswith("head."):
        return f"演示负责人{suffix}"
    return f"演示{_ROLE_ZH.get(role, role)}{suffix}"


def load_cityops_staff(
    session: Session, *, district_codes: list[str], departments: dict[str, str], teams: dict[str, str]
) -> list[dict[str, Any]]:
    """The 一网统管 handlers the demo's routing rules need, beside those :func:`load_staff` made
    (``dispatcher.<district>``, ``handler.<street>`` of the street office, ``grid.<community>``,
    ``hotline``): a handler of each district department events are routed to
    (``handler.<district>.lhsr`` …) and one per 处置队伍 in ``teams`` (team code → department id),
    named ``handler.<team code, lower case>`` and scoped to the team's home area (the part of the
    code before ``-``). Same shape of dicts as :func:`load_staff`; as SYSTEM, in the caller's transaction."""
    settings = settings_for(session)
    password_hash = identity_service.hash_password(settings, DEMO_PASSWORD)
    needs_totp = "handler" in {r.code for r in identity_service.get_policy(session).roles if r.requires_mfa}
    plan: list[tuple[str, str, str, str]] = []  # username, area, department code, department id
    for d in district_codes:
        for suffix in CITYOPS_DISTRICT_DEPARTMENTS:
            code = f"{d}-{suffix}"
            if code in departments:
                plan.append((f"handler.{d}.{suffix.lower()}", d, code, departments[code]))
    for code, team_id in teams.items():
        plan.append((f"handler.{code.lower().replace('-', '.')}", code.split("-", 1)[0], code, team_id))
    out: list[dict[str, Any]] = []
    for username, area, code, department_id in plan:
        user = identity_service.create_user(
            session, SYSTEM, username=username, password=None, kind="staff",
            display_name=_display_name(username, "handler"), grants=[("handler", area, department_id)],
            settings=settings,
        )
        identity_service.import_password_hash(session, SYSTEM, user.id, password_hash)
        if needs_totp:
            identity_service.enroll_totp_secret(session, user.id, DEMO_TOTP_SECRET, settings=settings)
        out.append({"username": username, "role": "handler", "scope": f"{area}/{code}", "totp": needs_totp})
    return out


CITYOPS_DISTRICT_DEPARTMENTS = ("LHSR", "SWJ", "ZJW", "XFJY")
"""District departments that handle city events in the demo (绿化市容, 水务, 建管委, 消防救援); the
城管执法局 has ``handler.<district>`` already."""


def load_datacat_staff(session: Session, *, departments: dict[str, str]) -> list[dict[str, Any]]:
    """A data officer (数据专员, ``data_officer`` granted with the department) for each of
    ``departments`` (department code → id), named ``dataofficer.<code suffix, lower case>`` for a
    city department (``dataofficer.jtw`` for ``31-JTW``) and ``dataofficer.<district>.<suffix>`` for
    a district's (``dataofficer.310101.lhsr``): they catalogue and open their department's resources in
    the demo's data catalogue. The city's ``dataofficer`` (数据局) comes from :func:`load_staff`.
    Same shape of dicts as :func:`load_staff`; as SYSTEM, in the caller's transaction."""
    settings = settings_for(session)
    password_hash = identity_service.hash_password(settings, DEMO_PASSWORD)
    needs_totp = "data_officer" in {r.code for r in identity_service.get_policy(session).roles if r.requires_mfa}
    out: list[dict[str, Any]] = []
    for code, department_id in departments.items():
        area, suffix = code.split("-", 1)
        username = f"dataofficer.{suffix.lower()}" if len(area) == 2 else f"dataofficer.{area}.{suffix.lower()}"
        user = identity_service.create_user(
            session, SYSTEM, username=username, password=None, kind="staff",
            display_name=_display_name(username, "data_officer"), grants=[("data_officer", area, department_id)],
            settings=settings,
        )
        identity_service.import_password_hash(session, SYSTEM, user.id, password_hash)
        if needs_totp:
            identity_service.enroll_totp_secret(session, user.id, DEMO_TOTP_SECRET, settings=settings)
        out.append({"username": username, "role": "data_officer", "scope": f"{area}/{code}", "totp": needs_totp})
    return out
