"""Generations and memos: reference data read on every request, kept in each process, never stale.

A **generation** is a counter that says "what was read from these tables may have changed". It is
bumped after every committed change to a watched table — in this process, and in an 8-byte
memory-mapped file under ``var_dir/run/`` that every process of the deployment shares (read
without a system call). :func:`watch` names the tables of a generation; the session events below
notice ORM flushes and ORM ``insert``/``update``/``delete`` statements on them and bump it after
the commit.

A :class:`Memo` caches values read from those tables for one generation. Correctness rests on
*when* the generation is read: at the start of the session's transaction (``after_begin``), which
comes before the transaction's first read on SQLite (its snapshot) and before every statement's
snapshot on PostgreSQL. A value read in a transaction is therefore never stored under a
generation newer than what it saw; an older transaction's reads are served but not stored, and a
session holding its own uncommitted change to a watched table bypasses the memo altogether.

Not seen at once: writes that bypass the ORM (``core.rows`` is for hot inserts of other tables;
raw SQL in migrations — restart the processes after one) and changes made on another host, whose
processes share the database but not this ``var_dir``: a memo forgets everything it read after
:data:`TTL_SECONDS`, which bounds how late those are seen.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import threading
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from yiwang.core.settings import Settings

T = TypeVar("T")

Stamp = tuple[int, int]


class Generation:
    """A counter bumped after every committed change to its tables: in this process, and in a
    memory-mapped file shared by the processes of one ``var_dir`` (when it can be made). The
    mapping keeps a descriptor of its own (CPython duplicates it); ours is closed at once, and a
    bump opens the file for the moment of its lock. :func:`shared_generation` keeps at most
    :data:`MAX_GENERATIONS`, so a process serving many deployments (the tests) holds few files."""

    def __init__(self, path: Path | None) -> None:
        self.local = 0
        self._path = path
        self._map: mmap.mmap | None = None
        if path is not None:
            with contextlib.suppress(OSError):
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    if os.fstat(fd).st_size < 8:
                        os.ftruncate(fd, 8)
                    self._map = mmap.mmap(fd, 8)
                finally:
                    os.close(fd)

    def value(self) -> Stamp:
        shared = int.from_bytes(self._map[:8], "little") if self._map is not None else 0
        return self.local, shared

    def bump(self) -> None:
        self.local += 1
        if self._map is None or self._path is None:
            return
        try:
            fd = os.open(self._path, os.O_RDWR)
        except OSError:  # the file is gone (its var_dir was removed): this process's count still moved
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._map[:8] = (int.from_bytes(self._map[:8], "little") + 1).to_bytes(8, "little")
        finally:
            os.close(fd)  # releases the lock


MAX_GENERATIONS = 64
_generations: dict[tuple[str | None, str], Generation] = {}
_generations_lock = threading.Lock()


def shared_generation(settings: Settings | None, name: str) -> Generation:
    """The generation ``name`` shared by the processes of a deployment (a file ``run/<name>.generation``
    under its ``var_dir``); without settings, one for this process only."""
    key = (str(Path(settings.var_dir).resolve()) if settings is not None else None, name)
    found = _generations.get(key)
    if found is None:
        with _generations_lock:
            path = Path(key[0]) / "run" / f"{name}.generation" if key[0] is not None else None
            if len(_generations) >= MAX_GENERATIONS:  # a process serving many deployments: the tests
                for old in [k for k in _generations if k[0] is not None][:MAX_GENERATIONS // 2]:
                    del _generations[old]  # its mapping goes when nothing holds it any more
            found = _generations.setdefault(key, Generation(path))
    return found


# -- watching tables ---------------------------------------------------------------------------------

_WATCHED: dict[str, set[str]] = {}
"""Table name → the generations it belongs to (registered by :func:`watch`)."""
_NAMES: set[str] = set()
_BEGUN = "yiwang.generations.begun"
_CHANGED = "yiwang.generations.changed"
_by_settings: dict[int, tuple[Settings, dict[str, Generation]]] = {}


def watch(name: str, tables: frozenset[str]) -> None:
    """Bump generation ``name`` after each commit that changed one of ``tables`` through the ORM."""
    _NAMES.add(name)
    for table in tables:
        _WATCHED.setdefault(table, set()).add(name)


def _shared_of(settings: Settings | None, name: str) -> Generation | None:
    if settings is None:
        return None
    found = _by_settings.get(id(settings))
    if found is None or found[0] is not settings:
        if len(_by_settings) >= 16:
            _by_settings.clear()
        found = _by_settings[id(settings)] = (settings, {})
    gens = found[1]
    gen = gens.get(name)
    if gen is None:
        gen = gens[name] = shared_generation(settings, name)
    return gen


def stamp(settings: Settings | None, name: str) -> Stamp:
    """Generation ``name`` now: (this process's count, the deployment's)."""
    local = shared_generation(None, name).local
    shared = _shared_of(settings, name)
    return local, shared.value()[1] if shared is not None else 0


def bump(settings: Settings | None, name: str) -> None:
    """Make every memo of ``name`` stale (done after each committed change to its tables; call it
    after a change made without the ORM)."""
    shared_generation(None, name).bump()
    shared = _shared_of(settings, name)
    if shared is not None:
        shared.bump()


def _mark(session: Session, table: str | None) -> None:
    names = _WATCHED.get(table or "")
    if names:
        session.info.setdefault(_CHANGED, set()).update(names)


def _table(obj: Any) -> str | None:
    return getattr(getattr(type(obj), "__table__", None), "name", None)


@event.listens_for(Session, "after_begin")
def _note_begin(session: Session, transaction: SessionTransaction, _connection: Any) -> None:
    if transaction.parent is None and _NAMES:
        settings = session.info.get("settings")
        session.info[_BEGUN] = {name: stamp(settings, name) for name in _NAMES}


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    for obj in (*session.new, *session.deleted, *session.dirty):
        _mark(session, _table(obj))


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete or state.is_insert:
        _mark(state.session, getattr(getattr(state.bind_mapper, "local_table", None), "name", None))


@event.listens_for(Session, "after_commit")
def _bump_after_commit(session: Session) -> None:
    changed = session.info.pop(_CHANGED, None)
    if changed:
        settings = session.info.get("settings")
        for name in changed:
            bump(settings, name)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_CHANGED, None)
        session.info.pop(_BEGUN, None)


def _seen(session: Session, name: str) -> Stamp | None:
    """Generation ``name`` as what ``session`` reads sees it (when its transaction began, or now if
    it has not begun), or None when the session holds a change of its own to one of its tables
    (pending changes are flushed first, so that they are noticed)."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    changed = session.info.get(_CHANGED)
    if changed and name in changed:
        return None
    begun = session.info.get(_BEGUN)
    return begun[name] if begun is not None and name in begun else stamp(session.info.get("settings"), name)


def session_stamp(session: Session, names: tuple[str, ...]) -> tuple[Stamp, ...] | None:
    """Generations ``names`` as ``session`` sees them, or None when it changed one of their tables
    itself. What was worked out from memoised values under one stamp still stands if a later
    session's stamp is the same."""
    seen = tuple(_seen(session, name) for name in names)
    return None if None in seen else seen  # type: ignore[return-value]


# -- memos -------------------------------------------------------------------------------------------

_MISS = object()
TTL_SECONDS = 10.0
"""How long a memo keeps what it read at most: the bound on how late a change made on another host
(whose processes share the database but not this ``var_dir``) is seen."""


class _Store:
    __slots__ = ("born", "entries", "settings", "stamp")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stamp: Stamp = (-1, -1)
        self.entries: dict[Hashable, Any] = {}
        self.born = time.monotonic()


class Memo:
    """Values read from the tables of generation ``name``, kept while it stands (see the module doc).
    Each deployment's (settings') values are kept apart: a process may serve more than one database
    (the tests do), and a session without settings is never served from the memo."""

    def __init__(self, name: str, tables: frozenset[str], max_entries: int = 10_000,
                 ttl: float = TTL_SECONDS) -> None:
        watch(name, tables)
        self.name = name
        self.max_entries = max_entries
        self.ttl = ttl
        self._stores: dict[int, _Store] = {}
        self._lock = threading.Lock()
        self.reads = 0
        """How many values were loaded rather than served (the tests count misses)."""

    def _changed_here(self, session: Session) -> bool:
        changed = session.info.get(_CHANGED)
        return bool(changed) and self.name in changed

    def _store(self, settings: Settings) -> _Store:
        store = self._stores.get(id(settings))
        if store is None or store.settings is not settings:
            with self._lock:
                if len(self._stores) >= 16:
                    self._stores = {}
                store = self._stores[id(settings)] = _Store(settings)
        return store

    def get(self, session: Session, key: Hashable, load: Callable[[], T]) -> T:
        """The memoised value of ``key``, or ``load()`` (read through ``session``) kept for later."""
        settings = session.info.get("settings")
        if settings is None:
            return self._load(load)
        # A session that has not begun yet takes the generation now: whatever it reads later is at
        # least as new (a memo hit then costs no connection and no transaction at all).
        seen = _seen(session, self.name)
        if seen is None:
            return self._load(load)
        store = self._store(settings)
        current = store.stamp
        if seen != current:
            if seen[0] < current[0] or seen[1] < current[1]:
                return self._load(load)  # a transaction older than the memo: its reads may be older too
            with self._lock:
                if store.stamp == current:
                    store.entries = {}
                    store.stamp = seen
        if time.monotonic() - store.born > self.ttl:
            with self._lock:
                store.entries, store.born = {}, time.monotonic()
        value = store.entries.get(key, _MISS)
        if value is not _MISS:
            return value  # type: ignore[return-value]
        value = self._load(load)
        if not self._changed_here(session):
            with self._lock:
                if store.stamp == seen:
                    if len(store.entries) >= self.max_entries:
                        store.entries = {}
                    store.entries[key] = value
        return value  # type: ignore[return-value]

    def _load(self, load: Callable[[], T]) -> T:
        self.reads += 1
        return load()
