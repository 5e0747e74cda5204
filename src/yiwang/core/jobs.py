"""The job queue (huey, behind this one module), and work that must wait for the commit.

Declaring a job, in a domain's ``tasks.py``::

    @job("cityops.notify_dispatch", retries=3, retry_delay=30)
    def notify_dispatch(db: Database, *, event_id: str) -> None:
        with db.transaction() as session:
            ...

    @job("audit.checkpoint", periodic={"minute": "*/10"})   # a crontab, run by the worker
    def checkpoint(db: Database) -> None: ...

Queueing it from a service, inside the request's transaction::

    enqueue_after_commit(session, "cityops.notify_dispatch", event_id=event.id)

The message is queued once the session commits and forgotten if it rolls back, so the worker never
sees work for rows that do not exist. Arguments are ids and plain values, never ORM objects: the
job opens its own session and reads fresh rows. Queued messages carry only the job's name, so the
web process need not import the job's code; the worker (``yiwang.worker``) imports every domain's
``tasks`` and runs them.

The queue is a SQLite file (``{var_dir}/huey.db``, or ``huey_url = "sqlite:///path"``) by default,
Redis when ``settings.huey_url`` is a ``redis://`` URL (several app and worker machines).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from yiwang.core.settings import Settings, get_settings

log = logging.getLogger("yiwang.jobs")

_KEY = "yiwang_after_commit"
_PLAIN = (str, int, float, bool, type(None))


# -- which settings a session runs under ------------------------------------------------------

_ENGINE_SETTINGS: weakref.WeakKeyDictionary[Engine, Settings] = weakref.WeakKeyDictionary()


def bind_settings(engine: Engine, settings: Settings) -> None:
    """Remember the settings an engine was built from (the app, CLI and worker call this), so code
    holding only a session (audit chains, the job queue) finds its key dir, algorithms and queue."""
    _ENGINE_SETTINGS[engine] = settings


def settings_for(session: Session) -> Settings:
    """The settings of the session's database: ``session.info["settings"]``, else those bound to
    its engine, else the process's settings."""
    found = session.info.get("settings")
    if found is not None:
        return found
    bind = session.get_bind()
    engine = getattr(bind, "engine", bind)
    return _ENGINE_SETTINGS.get(engine) or get_settings()


# -- declared jobs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobSpec:
    name: str
    fn: Callable[..., Any]
    retries: int = 0
    retry_delay: int = 0
    periodic: dict[str, str] | None = field(default=None)


JOBS: dict[str, JobSpec] = {}


def job(
    name: str, *, retries: int = 0, retry_delay: int = 0, periodic: dict[str, str] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the worker job ``name`` (``domain.verb_noun``), called as ``fn(db, **kwargs)``.

    ``periodic`` is a crontab (``{"minute": "*/10"}``): the worker then also runs it on that
    schedule, with no arguments."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        JOBS[name] = JobSpec(name, fn, retries, retry_delay, periodic)
        return fn

    return register


# -- the queue ----------------------------------------------------------------------------------

_QUEUES: dict[tuple[str, str], Any] = {}
_DATABASES: dict[tuple[str, str], Any] = {}


def _queue_key(settings: Settings) -> tuple[str, str]:
    return settings.huey_url, str(Path(settings.var_dir).resolve())


def job_database(settings: Settings) -> Any:
    """The database the jobs of these settings use (one engine per worker process)."""
    from yiwang.core.db import Database

    key = (settings.resolved_database_url, str(Path(settings.var_dir).resolve()))
    db = _DATABASES.get(key)
    if db is None:
        db = _DATABASES[key] = Database(settings)
        bind_settings(db.engine, settings)
    return db


def _register(queue: Any, settings: Settings, name: str) -> Any:
    spec = JOBS.get(name)

    def run(**kwargs: Any) -> Any:
        from yiwang.core.context import bound

        found = JOBS.get(name)
        if found is None:
            raise LookupError(f"job {name} is not loaded in this process")
        with bound(source_ip="worker"):
            return found.fn(job_database(settings), **kwargs)

    # Every process registers the same runner under the same key ("yiwang.core.jobs.<name>"), so
    # a message queued by the web process is understood by the worker.
    run.__module__ = __name__
    options = {"retries": spec.retries, "retry_delay": spec.retry_delay} if spec else {}
    wrapper = queue.task(name=name, **options)(run)
    queue._yiwang_tasks[name] = wrapper
    if spec is not None and spec.periodic:
        from huey import crontab

        def tick() -> Any:
            return run()

        tick.__module__ = __name__
        queue.periodic_task(crontab(**spec.periodic), name=f"{name}.periodic", retries=spec.retries,
                            retry_delay=spec.retry_delay)(tick)
    return wrapper


def queue_for(settings: Settings) -> Any:
    """The huey instance of these settings, with every job declared so far registered on it."""
    key = _queue_key(settings)
    queue = _QUEUES.get(key)
    if queue is None:
        if settings.huey_url.startswith(("redis://", "rediss://")):
            try:
                from huey import RedisHuey

                queue = RedisHuey("yiwang", url=settings.huey_url)
            except ImportError as exc:
                raise RuntimeError("huey_url names Redis but the 'redis' package is not installed") from exc
        else:
            from huey import SqliteHuey

            path = settings.huey_url.removeprefix("sqlite:///") or str(Path(settings.var_dir) / "huey.db")
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            queue = SqliteHuey("yiwang", filename=path)
        queue._yiwang_tasks = {}
        _QUEUES[key] = queue
    for name in JOBS:
        if name not in queue._yiwang_tasks:
            _register(queue, settings, name)
    return queue


def enqueue(settings: Settings, task_name: str, **kwargs: Any) -> Any:
    """Queue ``task_name`` now (use ``enqueue_after_commit`` from inside a transaction)."""
    queue = queue_for(settings)
    wrapper = queue._yiwang_tasks.get(task_name) or _register(queue, settings, task_name)
    return wrapper(**kwargs)


# -- after commit -------------------------------------------------------------------------------


def _flush_pending(session: Session) -> None:
    pending: list[Callable[[], None]] = session.info.pop(_KEY, [])
    for fn in pending:
        try:
            fn()
        except Exception:  # noqa: BLE001 - the commit stands; a lost side effect is logged, not raised
            log.exception("after-commit action failed", extra={"action": getattr(fn, "__name__", "?")})


def _drop_pending(session: Session, previous_transaction: Any) -> None:
    # Only the outermost rollback forgets the work: a savepoint rolled back inside a transaction
    # that then commits still queues what was registered (jobs must cope with a missing row).
    if getattr(previous_transaction, "parent", None) is None:
        session.info.pop(_KEY, None)


def run_after_commit(session: Session, fn: Callable[[], None]) -> None:
    """Call ``fn()`` once the session's transaction commits; never if it rolls back."""
    if not session.in_transaction():
        # Start the (lazy, connection-less) transaction now, so that a rollback before any SQL
        # still ends it and forgets this work.
        session.begin()
    pending = session.info.get(_KEY)
    if pending is None:
        pending = session.info[_KEY] = []
        if not event.contains(session, "after_commit", _flush_pending):
            event.listen(session, "after_commit", _flush_pending)
            event.listen(session, "after_soft_rollback", _drop_pending)
    pending.append(fn)


def pending_mark(session: Session) -> int:
    """How many after-commit actions the session holds now (see :func:`forget_pending_since`)."""
    return len(session.info.get(_KEY) or [])


def forget_pending_since(session: Session, mark: int) -> None:
    """Drop the after-commit actions registered since ``mark``: a unit of work rolled back to its
    savepoint inside a transaction that commits (a group commit) leaves no job behind."""
    pending = session.info.get(_KEY)
    if pending is not None:
        del pending[mark:]


def _check_plain(value: Any, name: str) -> None:
    if isinstance(value, _PLAIN):
        return
    if isinstance(value, (list, tuple)) and all(isinstance(v, _PLAIN) for v in value):
        return
    raise TypeError(f"job argument {name!r} must be an id or a plain value, not {type(value).__name__}")


def enqueue_after_commit(session: Session, task_name: str, **kwargs: Any) -> None:
    """Queue the worker job ``task_name`` with ``kwargs`` (ids only) when the session commits."""
    for key, value in kwargs.items():
        _check_plain(value, key)
    settings = settings_for(session)

    def after_commit() -> None:
        enqueue(settings, task_name, **kwargs)

    after_commit.__name__ = f"enqueue:{task_name}"
    run_after_commit(session, after_commit)


def dispose_job_databases() -> None:
    """Close the jobs' database engines (worker shutdown, tests)."""
    while _DATABASES:
        _key, db = _DATABASES.popitem()
        db.dispose()
