"""Group commit: many requests' write units of work in one transaction, one durable commit.

SQLite has one writer at a time and, with ``synchronous=FULL``, every commit waits for the disk
(0.3–5 ms here). A worker that commits each request on its own is capped at one request per disk
flush however fast its code is. :class:`GroupCommitter` gives each worker process one writer
thread: routes hand it a function of a session (the short write half of a use case, after the
checks were done in a read-only unit of work); the thread takes every unit waiting, runs each in
its own savepoint (a unit that fails is rolled back alone and its caller gets its error), and
commits them together. A unit's caller hears back only after that commit: nothing is reported
done that is not on disk. If the commit itself fails, every unit of the batch gets the error — the
clients retry (writes that must not happen twice carry an idempotency key).

The function runs in the writer thread under a copy of the caller's context (request id, locale,
source address), so audit entries and logs are the same as if it had run in the request.

Between processes (uvicorn's workers), the writer threads take turns through an advisory file lock
beside the database file (``flock``) before they begin. Without it they meet on SQLite's own lock,
whose busy handler polls with sleeps of up to 100 ms: at 64 concurrent clients two workers spent
most of their time asleep (p99 of seconds, idle CPUs). The kernel wakes a waiter on ``flock`` the
moment the holder lets go.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fcntl
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from yiwang.core.jobs import forget_pending_since, pending_mark
from yiwang.core.rows import cursor_of

log = logging.getLogger("yiwang.db")

T = TypeVar("T")

MAX_BATCH = 128
"""Units in one transaction at most: bounds the time a unit can wait behind others."""

class _Awaited:
    """The answer slot of a unit awaited on an event loop (:meth:`GroupCommitter.run`): settled
    with the other units of its batch waiting on the same loop in one hop to that loop, instead
    of one wake-up of the loop per unit."""

    __slots__ = ("future", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()

    def set_running_or_notify_cancel(self) -> bool:
        return not self.future.cancelled()  # read from the writer thread: a late cancel only loses the race


_Unit = tuple[Callable[[Session], Any], contextvars.Context, "Future | _Awaited", bool]


def _settle(answers: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the loop: hand each awaiting request its unit's result or error."""
    for future, value, error in answers:
        if future.done():  # its request was cancelled meanwhile
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


def _answer(done: list[tuple[Future | _Awaited, Any, BaseException | None]]) -> None:
    """Settle a batch's units: thread futures at once, awaited ones in one hop per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
    for slot, value, error in done:
        if isinstance(slot, _Awaited):
            by_loop.setdefault(slot.loop, []).append((slot.future, value, error))
        elif error is not None:
            slot.set_exception(error)
        else:
            slot.set_result(value)
    for loop, answers in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop was closed: nobody is waiting any more
            loop.call_soon_threadsafe(_settle, answers)


class WriterTurn:
    """An exclusive advisory lock on a file, held while a writer thread writes (see the module doc)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> WriterTurn:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _writer_turn(db: Any) -> WriterTurn | None:
    """The shared turn of writers to ``db``'s SQLite file, or None (PostgreSQL, in-memory SQLite)."""
    if not getattr(db, "is_sqlite", False):
        return None
    path = db.engine.url.database
    if not path or path == ":memory:":
        return None
    return WriterTurn(path + "-writer.lock")


class GroupCommitter:
    """One writer thread for a :class:`~yiwang.core.db.Database` in this process."""

    def __init__(self, db: Any, max_batch: int = MAX_BATCH) -> None:
        self._db = db
        self._turn = _writer_turn(db)
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Unit | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.units = 0

    def submit(self, fn: Callable[[Session], T], *, plain: bool = False) -> Future[T]:
        """Queue ``fn(session)``; the future resolves with its result after the commit. A ``plain``
        unit writes only through ``core.rows`` (no ORM objects added or changed): its savepoint is
        two statements on the driver's cursor instead of the session's nested transaction, which
        costs more than the whole of such a unit."""
        future: Future[T] = Future()
        self._queue.put((fn, contextvars.copy_context(), future, plain))
        self._ensure_thread()
        return future

    async def run(self, fn: Callable[[Session], T], *, plain: bool = False) -> T:
        """``fn(session)`` in the next group commit, awaited without holding a thread."""
        slot = _Awaited(asyncio.get_running_loop())
        self._queue.put((fn, contextvars.copy_context(), slot, plain))
        self._ensure_thread()
        return await slot.future

    def close(self) -> None:
        """Finish what is queued and stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
        if self._turn is not None:
            self._turn.close()

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="yiwang-group-commit", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is None:
                    stop = True
                    break
                batch.append(unit)
            self._run(batch)
            if stop:
                return

    def _run(self, batch: list[_Unit]) -> None:
        with self._turn if self._turn is not None else contextlib.nullcontext():
            self._run_in_turn(batch)

    def _run_in_turn(self, batch: list[_Unit]) -> None:
        done: list[tuple[Future | _Awaited, Any, BaseException | None]] = []
        session = self._db.session(write=True)
        try:
            for fn, context, future, plain in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                mark = pending_mark(session)
                try:
                    if plain:
                        value = _in_plain_savepoint(session, context, fn)
                    else:
                        with session.begin_nested():
                            value = context.run(fn, session)
                            session.flush()
                    done.append((future, value, None))
                except Exception as exc:  # noqa: BLE001 - the unit's error goes back to its caller
                    forget_pending_since(session, mark)
                    done.append((future, None, exc))
            session.commit()
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing of the batch stands
            log.exception("group commit failed", extra={"units": len(batch)})
            session.rollback()
            failed = [(future, None, error or exc) for future, _value, error in done]
            failed += [(future, None, exc) for _fn, _context, future, _plain in batch[len(done):]
                       if not (isinstance(future, Future) and future.done())]
            _answer(failed)
            return
        finally:
            session.close()
        self.batches += 1
        self.units += len(done)
        _answer(done)


def _in_plain_savepoint(session: Session, context: contextvars.Context, fn: Callable[[Session], T]) -> T:
    cursor = cursor_of(session)
    cursor.execute("SAVEPOINT yiwang_unit")
    try:
        value = context.run(fn, session)
    except BaseException:
        cursor.execute("ROLLBACK TO SAVEPOINT yiwang_unit")
        cursor.execute("RELEASE SAVEPOINT yiwang_unit")
        raise
    cursor.execute("RELEASE SAVEPOINT yiwang_unit")
    return value


def committer_for(db: Any) -> GroupCommitter:
    """The process's group committer of ``db`` (made on first use)."""
    found = getattr(db, "_group_committer", None)
    if found is None:
        found = db._group_committer = GroupCommitter(db)
    return found


def _in_own_transaction(db: Any, fn: Callable[[Session], T]) -> T:
    with db.transaction() as session:
        return fn(session)


async def run_write(db: Any, fn: Callable[[Session], T], *, plain: bool = False) -> T:
    """The write half of a use case, committed before this returns: in the worker's group commit on
    SQLite (one writer at a time, one disk flush per batch), in a transaction of its own on
    PostgreSQL (whose writers run side by side and whose WAL already groups commits). ``plain``:
    see :meth:`GroupCommitter.submit`."""
    if getattr(db, "is_sqlite", False):
        return await committer_for(db).run(fn, plain=plain)
    from starlette.concurrency import run_in_threadpool  # noqa: PLC0415 - only the web tier awaits

    return await run_in_threadpool(_in_own_transaction, db, fn)
