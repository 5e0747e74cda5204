"""Fixtures of the ratings tests: a rater, two departments' approvers, a district leader, and a
fixed "today" of 2026-09-25 (a Friday before National Day)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from yiwang.core.actor import Actor, Grant
from yiwang.ratings import service as ratings_service
from yiwang.workdays import service as workdays_service

DISTRICT, STREET, OTHER_DISTRICT = "310101", "310101002", "310104"
DEP_A, DEP_B = "01JDEPA0000000000000000000", "01JDEPB0000000000000000000"
RATER_ID = "01JRATER000000000000000000"
TODAY = date(2026, 9, 25)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch: pytest.MonkeyPatch) -> date:
    monkeypatch.setattr(workdays_service, "today", lambda: TODAY)
    return TODAY


@pytest.fixture
def rater() -> Actor:
    return Actor(kind="citizen", user_id=RATER_ID, username="rater")


def approver(department_id: str, user_id: str = "01JAPPROVER000000000000000") -> Actor:
    return Actor(kind="staff", user_id=user_id, grants=(
        Grant("approver", DISTRICT, department_id, frozenset({"rating.respond"})),))


@pytest.fixture
def approver_a() -> Actor:
    return approver(DEP_A, "01JAPPROVERA00000000000000")


@pytest.fixture
def approver_b() -> Actor:
    return approver(DEP_B, "01JAPPROVERB00000000000000")


@pytest.fixture
def leader() -> Actor:
    return Actor(kind="staff", user_id="01JLEADER00000000000000000", grants=(
        Grant("leader", DISTRICT, None, frozenset({"rating.supervise", "rating.stats"})),))


@pytest.fixture
def rate(session, rater):
    """``rate(score, subject_id=..., **overrides)``: the rater rates one closed application."""

    def make(score: int, subject_id: str = "SQ001", **kw: Any):
        args: dict[str, Any] = {"subject_type": "application", "subject_id": subject_id,
                                "service_code": "310101-001", "department_id": DEP_A,
                                "area_code": STREET, "channel": "online", "score": score}
        args.update(kw)
        return ratings_service.rate(session, kw.pop("actor", rater), **args)

    return make
