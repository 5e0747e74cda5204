"""Worker jobs of identity and access."""

from __future__ import annotations

from yiwang.core.db import Database
from yiwang.core.jobs import job
from yiwang.identity import service


@job("identity.purge_expired_sessions", periodic={"minute": "17"})
def purge_expired_sessions(db: Database) -> int:
    """Delete expired sessions (hourly); returns how many."""
    with db.transaction() as session:
        return service.purge_expired_sessions(session)


@job("identity.purge_sign_in_failures", periodic={"minute": "23"})
def purge_sign_in_failures(db: Database) -> int:
    """Delete the per-address sign-in failure counts past the throttle's window (hourly); returns how many."""
    with db.transaction() as session:
        return service.purge_sign_in_failures(session, db.settings)
