"""Group commit: many requests' write units of work in one transaction, one durable commit.

SQLite has one writer at a time and, with ``synchronous=FULL``, every commit waits for the disk
(0.3–5 ms here). A worker that commits each request on its own is capped at one request per disk
flush however fast its code is. :class:`GroupCommitter` gathers the write halves of use cases (a
function of a session, after the checks were done in a read-only unit of work) and runs every unit
waiting, each in its own savepoint (a unit that fails is rolled back alone and its caller gets its
error), then commits them together. A unit's caller hears back only after that commit: nothing is
reported done that is not on disk. If the commit itself fails, every unit of the batch gets the
error — the clients retry (writes that must not happen twice carry an idempotency key).

Units awaited by ``async`` routes (:meth:`GroupCommitter.run`) run on their event loop's own thread,
a batch at a time (:class:`_LoopWriter`); units handed over from other threads
(:meth:`GroupCommitter.submit`) run in one writer thread. The loop is the faster place: a writer
thread shares the interpreter lock with the loop, and every SQLite call it makes lets the busy loop
keep the lock for up to the switch interval while the turn (below) is held — measured, the turn
was held twice as long as the writing took, and that capped a whole server's writes.

A unit runs under a copy of its caller's context (request id, locale, source address), so audit
entries and logs are the same as if it had run in the request.

Between processes (uvicorn's workers), the writers take turns through an advisory file lock
beside the database file (``flock``) before they begin. Without it they meet on SQLite's own lock,
whose busy handler polls with sleeps of up to 100 ms: at 64 concurrent clients two workers spent
most of their time asleep (p99 of seconds, idle CPUs). The kernel wakes a waiter on ``flock`` the
moment the holder lets go.
"""

from __future__ import annotations

import asyncio
import contextvars
import fcntl
import logging
import os
import queue
import threading
import weakref
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

_Unit = tuple[Callable[[Session], Any], contextvars.Context, "Future[Any] | asyncio.Future[Any]", bool]
_Answer = tuple["Future[Any] | asyncio.Future[Any]", Any, BaseException | None]


def _still_wanted(slot: Future[Any] | asyncio.Future[Any]) -> bool:
    """Whether a unit's caller still waits for it (a cancelled request's unit is skipped)."""
    if isinstance(slot, Future):
        return slot.set_running_or_notify_cancel()
    return not slot.cancelled()


def _settle(answers: list[_Answer]) -> None:
    """Hand each caller its unit's result or error (on the loop, for a loop's units)."""
    for slot, value, error in answers:
        if slot.done():  # its request was cancelled meanwhile
            continue
        if error is not None:
            slot.set_exception(error)
        else:
            slot.set_result(value)


class WriterTurn:
    """An exclusive advisory lock on a file, held while a writer writes (see the module doc). A
    process's writers (its writer thread and its event loops' writers) also take turns among
    themselves through a thread lock: ``flock`` alone would not keep them apart, since it belongs
    to the open file."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._local = threading.Lock()

    def __enter__(self) -> WriterTurn:
        self._local.acquire()
        try:
            if self.path is not None:
                fcntl.flock(self._file(), fcntl.LOCK_EX)  # releases the GIL while it waits
        except BaseException:
            self._local.release()
            raise
        return self

    def try_enter(self) -> bool:
        """Take the turn if it is free now, without waiting."""
        if not self._local.acquire(blocking=False):
            return False
        if self.path is None:
            return True
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._local.release()
            return False
        except BaseException:
            self._local.release()
            raise
        return True

    def __exit__(self, *exc: object) -> None:
        if self.path is not None and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._local.release()

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)  # type: ignore[arg-type]
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _writer_turn(db: Any) -> WriterTurn:
    """The shared turn of writers to ``db``: with a lock file beside an SQLite database file,
    between this process's writers only otherwise (PostgreSQL, in-memory SQLite)."""
    path = db.engine.url.database if getattr(db, "is_sqlite", False) else None
    if not path or path == ":memory:":
        return WriterTurn(None)
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
        self._loop_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopWriter] = (
            weakref.WeakKeyDictionary())
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
        """``fn(session)`` in the next group commit of the running event loop's writer, awaited."""
        loop = asyncio.get_running_loop()
        writer = self._loop_writers.get(loop)
        if writer is None:
            writer = self._loop_writers[loop] = _LoopWriter(self)
        slot: asyncio.Future[T] = loop.create_future()
        writer.put((fn, contextvars.copy_context(), slot, plain))
        return await slot

    def close(self) -> None:
        """Finish what is queued and stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()
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
        with self._turn:
            self._run_in_turn(batch)

    def _run_in_turn(self, batch: list[_Unit]) -> None:
        _settle(self._execute(batch))

    def _execute(self, batch: list[_Unit]) -> list[_Answer]:
        """Run a batch's units and commit them, in the writer's turn: each unit's answer."""
        done: list[_Answer] = []
        session = self._db.session(write=True)
        try:
            for fn, context, future, plain in batch:
                if not _still_wanted(future):
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
            answered = {id(future) for future, _value, _error in done}
            failed += [(future, None, exc) for _fn, _context, future, _plain in batch
                       if id(future) not in answered and not future.done()]
            return failed
        finally:
            session.close()
        self.batches += 1
        self.units += len(done)
        return done


class _LoopWriter:
    """The writer of one event loop (:meth:`GroupCommitter.run`): it runs the units queued on the
    loop, and commits them, on the loop's own thread, in the writer's turn.

    A writer thread shares the interpreter lock with the loop: each of its statements lets the loop
    run, and the loop then keeps the lock for up to the switch interval, all while the turn is held
    and the other processes' writers wait. On the loop, the units run back to back and the turn is
    held only for their own time and the commit's. The loop answers nothing else meanwhile (a batch
    takes milliseconds); what arrives meanwhile waits in the socket buffers and joins the next batch.
    """

    def __init__(self, committer: GroupCommitter) -> None:
        self._committer = committer
        self._pending: list[_Unit] = []
        self._task: asyncio.Task[None] | None = None

    def put(self, unit: _Unit) -> None:
        self._pending.append(unit)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        committer, turn = self._committer, self._committer._turn
        try:
            while self._pending:
                await asyncio.sleep(0)  # the requests already on this pass of the loop queue their units too
                try:
                    if not turn.try_enter():
                        await self._wait_for_turn(turn)
                except Exception as exc:  # noqa: BLE001 - no turn (the lock file): every waiting caller hears why
                    log.exception("group commit could not take the writers' turn")
                    waiting, self._pending = self._pending, []
                    _settle([(slot, None, exc) for _fn, _context, slot, _plain in waiting])
                    continue
                batch = self._pending[:committer._max_batch]
                del self._pending[:len(batch)]
                try:
                    done = committer._execute(batch)
                except Exception as exc:  # noqa: BLE001 - no session at all: the batch's callers hear why
                    log.exception("group commit failed", extra={"units": len(batch)})
                    done = [(slot, None, exc) for _fn, _context, slot, _plain in batch]
                finally:
                    turn.__exit__()
                _settle(done)
        finally:
            self._task = None

    async def _wait_for_turn(self, turn: WriterTurn) -> None:
        """Wait in a thread while another writer holds the turn (the loop goes on meanwhile)."""
        taken = asyncio.get_running_loop().run_in_executor(None, turn.__enter__)
        try:
            await asyncio.shield(taken)
        except asyncio.CancelledError:  # the loop is closing: give the turn back once it comes
            taken.add_done_callback(lambda f: None if f.cancelled() or f.exception() else turn.__exit__())
            raise


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
