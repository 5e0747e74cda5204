"""Routing facts of intake memoised per process, valid while nothing they were read from changed.

Intake looks up the same few facts for report after report: a category and its parents, the
current routing rule of a (category, area), the active incidents, the handlers of a (department
or team, area), the city's code and the newest classifier. Each is kept here under a *stamp*: the
cityops generation (bumped after every committed change to :data:`WATCHED` — categories, rules,
incidents, classifiers, areas and departments) and the identity generation (users, grants and the
role policy, ``identity.web``). Both are counters this process keeps in memory and that every
process of a ``var_dir`` shares through a memory-mapped file (``identity.web.shared_generation``),
read without a system call. The stamp is noted when a session's transaction begins; a fact is
served or kept only when the stamp is still the same when it is asked for, so what a transaction
read from a snapshot older than a committed change is never kept under the newer stamp.

A session that holds a change of its own not yet committed (flushed or pending) does not use the
memo at all: what it reads must include its own writes.

A change made without the ORM, or by a process on another host sharing the database but not the
``var_dir``, is seen at the latest after :data:`TTL_SECONDS`.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from yiwang.core.generations import Generation, shared_generation
from yiwang.core.settings import Settings
from yiwang.identity.web import identity_generation

T = TypeVar("T")

#: Tables whose committed change makes memoised routing facts stale (besides identity's own).
WATCHED = frozenset({"cityops_categories", "cityops_routing_rules", "cityops_incidents", "cityops_classifiers",
                     "areas", "departments"})
#: Identity tables (``identity.web.WATCHED_TABLES``) whose pending change in a session bypasses the memo.
_IDENTITY = frozenset({"users", "role_grants", "role_permissions", "permissions", "policy_versions"})
_CHANGED = "yiwang.cityops.changed"
_PENDING = "yiwang.cityops.identity_pending"
_BEGUN = "yiwang.cityops.begun"
TTL_SECONDS = 60.0
MAX_ENTRIES = 50_000

_process_generation = shared_generation(None, "cityops")
_identity_process = identity_generation(None)


def _table(obj: Any) -> str | None:
    return getattr(getattr(type(obj), "__table__", None), "name", None)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.deleted, *session.dirty):
        name = _table(obj)
        if name in WATCHED:
            session.info[_CHANGED] = True
            return
        if name in _IDENTITY:
            # identity.web bumps its own generation for this change; the flag only keeps the
            # session from reading the memo before it commits.
            session.info[_PENDING] = True


@event.listens_for(Session, "do_orm_execute")
def _note_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    name = getattr(getattr(state.bind_mapper, "local_table", None), "name", None)
    if name in WATCHED:
        state.session.info[_CHANGED] = True
    elif name in _IDENTITY:
        state.session.info[_PENDING] = True


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    session.info.pop(_PENDING, None)
    if session.info.pop(_CHANGED, False):
        bump(session.info.get("settings"))


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
    session.info.pop(_PENDING, None)


_shared: dict[str, tuple[Generation, Generation]] = {}


def _generations(settings: Settings) -> tuple[Generation, Generation]:
    """The deployment's (cityops, identity) generations, found once per ``var_dir``."""
    key = str(settings.var_dir)
    found = _shared.get(key)
    if found is None:
        if len(_shared) >= 16:  # a process serving many deployments (the tests): hold few files open
            _shared.clear()
        found = _shared[key] = (shared_generation(settings, "cityops"), identity_generation(settings))
    return found


def bump(settings: Settings | None) -> None:
    """Make every memoised fact stale (done after each committed change to :data:`WATCHED`)."""
    _process_generation.bump()
    if settings is not None:
        _generations(settings)[0].bump()


Stamp = tuple[Any, ...]


def stamp(settings: Settings | None) -> Stamp:
    """What a memoised fact is valid for: this process's and the deployment's generations."""
    if settings is None:
        return _process_generation.value(), _identity_process.value()
    cityops, identity = _generations(settings)
    return _process_generation.value(), cityops.value(), _identity_process.value(), identity.value()


@event.listens_for(Session, "after_begin")
def _note_begin(session: Session, transaction: SessionTransaction, _connection: Any) -> None:
    if transaction.parent is None and _BEGUN not in session.info:
        session.info[_BEGUN] = stamp(session.info.get("settings"))


@event.listens_for(Session, "after_transaction_end")
def _note_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_BEGUN, None)


def session_stamp(session: Session) -> Stamp | None:
    """The stamp for ``session``'s reads, or None when the memo must not be used: the session holds
    changes of its own (pending ones are flushed first, so that they are noticed), or its
    transaction began under an older stamp (on SQLite its snapshot may predate a change that was
    committed since: what it reads must not be kept under the newer stamp)."""
    if session.new or session.deleted or session.dirty:
        session.flush()
    info = session.info
    if info.get(_CHANGED) or info.get(_PENDING):
        return None
    now = stamp(info.get("settings"))
    begun = info.get(_BEGUN)
    if begun is not None and begun != now:
        return None
    return now


_urls: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()


def _database(session: Session) -> str:
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    found = _urls.get(engine)
    if found is None:
        found = _urls[engine] = engine.url.render_as_string(hide_password=True)
    return found


class Memo:
    """Facts by key, each valid for the stamp it was read under and at most :data:`TTL_SECONDS`."""

    def __init__(self, max_entries: int = MAX_ENTRIES, ttl: float = TTL_SECONDS) -> None:
        self._entries: dict[Any, tuple[Stamp, float, Any]] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.ttl = ttl
        self.reads = 0
        """How many facts were read from the database (the tests count misses)."""

    def get(self, session: Session, kind: str, key: Any, read: Callable[[], T]) -> T:
        """The fact ``(kind, key)`` of the session's database: memoised, or ``read()`` now."""
        current = session_stamp(session)
        if current is None:
            self.reads += 1
            return read()
        full = (_database(session), kind, key)
        found = self._entries.get(full)
        now = time.monotonic()
        if found is not None and found[0] == current and found[1] > now:
            return found[2]
        self.reads += 1
        value = read()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[full] = (current, now + self.ttl, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


MEMO = Memo()
