"""Fixtures of the identity tests: the seeded policy, users with roles, a signed-in client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pyotp
import pytest

from yiwang.core.actor import SYSTEM
from yiwang.core.jobs import bind_settings
from yiwang.identity import service

PASSWORD = "Correct-horse-42"  # noqa: S105 - test accounts
CITIZEN_PASSWORD = "abcd1234"  # noqa: S105 - test accounts
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # noqa: S105 - test accounts
DISTRICT = "310101"
OTHER_DISTRICT = "310104"
STREET = "310101002"


def totp_code(at: datetime | None = None, secret: str = TOTP_SECRET) -> str:
    totp = pyotp.TOTP(secret)
    return totp.at(at) if at is not None else totp.now()


@pytest.fixture(autouse=True)
def _policy_seeded(request: pytest.FixtureRequest):
    """Every test with a database starts from the seeded default policy, with services finding the
    test's settings (key dir, argon2 cost) through the engine."""
    names = request.fixturenames
    if not {"settings", "db", "session", "app", "client"} & set(names):
        return
    settings = request.getfixturevalue("settings")
    db = request.getfixturevalue("db")
    bind_settings(db.engine, settings)
    if "app" in names or "client" in names:
        bind_settings(request.getfixturevalue("app").state.db.engine, settings)
    with db.transaction() as s:
        service.seed_policy(s)


@pytest.fixture
def make_user(session, settings) -> Callable[..., str]:
    """Create a user and commit the test's session; returns the id. ``totp=True`` enrols the test
    TOTP secret."""

    def make(username: str, *grants: tuple[str, str] | tuple[str, str, str | None], kind: str = "staff",
             password: str | None = PASSWORD, totp: bool = False, email: str | None = None) -> str:
        full = [(g[0], g[1], g[2] if len(g) > 2 else None) for g in grants]
        user = service.create_user(session, SYSTEM, username=username, password=password, kind=kind,
                                   display_name=username.title(), grants=full, email=email, settings=settings)
        if totp:
            service.enroll_totp_secret(session, user.id, TOTP_SECRET, settings=settings)
        session.commit()
        return user.id

    return make


def login(client, username: str, password: str = PASSWORD, totp: str | None = None):
    """Sign in through the API; returns the response (the client keeps the cookie)."""
    body = {"username": username, "password": password}
    if totp is not None:
        body["totp"] = totp
    return client.post("/api/v1/auth/login", json=body)


def audit_entries(session, *, action: str, target_id: str | None = None) -> list[tuple[str, str, dict | None]]:
    """(action, outcome, detail) of the audit entries of ``action``, oldest first."""
    from yiwang.audit import service as audit_service
    from yiwang.audit.service import EntryFilter

    page = audit_service.list_entries(session, SYSTEM, EntryFilter(action=action, target_id=target_id), limit=500)
    session.commit()  # the read is itself audited; end the transaction so the app can write
    return [(e.action, e.outcome, e.detail) for e in reversed(page.items)]
