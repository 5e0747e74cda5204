"""Fixtures of the working-day tests: an administrator who maintains the calendar, a clerk who
does not, and a year's file."""

from __future__ import annotations

from typing import Any

import pytest

from yiwang.core.actor import SYSTEM, Actor, Grant


def staff(*grants: Grant, user_id: str) -> Actor:
    return Actor(kind="staff", user_id=user_id, grants=grants)


@pytest.fixture
def admin() -> Actor:
    return staff(Grant("sys_admin", "31", None, frozenset({"calendar.manage"})), user_id="admin")


@pytest.fixture
def clerk() -> Actor:
    return staff(Grant("clerk", "31", None, frozenset({"registry.person.read"})), user_id="clerk")


#: 2027 as an administrator might publish it before the package knows it: National Day 10/1–10/7
#: with a make-up Saturday 10/9, and one Spring Festival weekday.
DAYS_2027: list[dict[str, Any]] = [
    {"date": "2027-02-10", "working": False, "name": "春节"},
    *({"date": f"2027-10-0{d}", "working": False, "name": "国庆节"} for d in range(1, 8)),
    {"date": "2027-10-09", "working": True, "name": "国庆节"},
]


def audit_trail(session, action: str) -> list[tuple[str, str, str | None, dict | None]]:
    """(action, outcome, target_id, detail) of the audit entries with this action, oldest first."""
    from yiwang.audit import service as audit_service

    page = audit_service.list_entries(session, SYSTEM, audit_service.EntryFilter(action=action), limit=500)
    return [(e.action, e.outcome, e.target_id, e.detail) for e in reversed(page.items)]
