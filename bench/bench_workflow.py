"""Bundle (一件事) workflows through the workflow service against SpiffWorkflow's raw loop.

A bundle here is three branches (并联审批), each an instance of the built-in one-step approval.
Through the service layer, per bundle: one write transaction starts the three instances
(``start_many``), then one write transaction per branch lists its ready tasks and completes the
approval (``ready_tasks`` + ``complete_task``): four write transactions, the state read from and
written to a SQLite database (WAL, ``synchronous=FULL``) at every step.

The baseline, in the same run: the same BPMN file parsed once, then per bundle 3 × (new
``BpmnWorkflow``, ``do_engine_steps``, complete the user task, ``do_engine_steps``) in memory:
no database, no serialization. Both sides run with SpiffWorkflow's task loggers at WARNING (set
by ``workflow.engine`` for the whole process). Target: the service reaches at least half the raw
rate. Figures, each against that same baseline:

1. **The production path (the headline figure).** On a server, clerks' acceptances and approvers'
   decisions arrive concurrently, and the API's accept and decide routes write through
   ``core.groupcommit.run_write``: each is a unit of the worker's group commit, run on the event
   loop with the other units waiting and committed with them. Here :data:`APPROVERS` tasks on one
   event loop each run whole bundles, every one of the four write transactions awaited through
   ``run_write`` (the workflow service writes with plain statements, so its units take the group
   commit's driver-level savepoint), on disk with ``synchronous=FULL``. A unit's caller hears back
   only after the durable commit of its batch, so nothing is counted that is not on disk; the
   disk's flush is paid once per batch (up to :data:`APPROVERS` units; a second figure runs
   :data:`FEW_APPROVERS`). (Until December 2026 this
   figure ran 8 approvers as threads handing units to a writer thread: 0.40 of the raw loop,
   where 8 on the loop measure 0.51–0.52 — a thread per approver and the writer thread traded
   the interpreter lock at every statement.)
2. **One bundle at a time on disk**: each of the four transactions is its own durable commit.
   This one cannot reach 1/2 on this machine's disk whatever the software does: the fourth figure
   (the four commits of a bundle with nothing in them but one small update each) runs at about the
   raw loop's rate, i.e. the fsyncs alone take about as long as a whole raw bundle (≈1.8 ms against
   ≈1.5 ms), and a durable commit per approval is what the web tier's group commit is there to
   avoid.
3. **One bundle at a time on tmpfs** (where /dev/shm exists): the same code with fsync costing
   nothing, i.e. the software's own overhead per bundle (engine steps, state serialization,
   statements and the four transactions' begin/commit).
4. **The commit floor**: the four durable commits of a bundle alone (see 2).

After the run every service database is checked: as many completed instances as branches run,
else the bench raises (a bundle that did not really finish must not count).

The machine is shared, so the loops are interleaved: each runs in turns of a tenth of a second
until every one has had ``SECONDS``; a load that comes and goes then weighs on all of them alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECONDS = 3.0
TURN = 0.1
SHM = "/dev/shm"  # noqa: S108 - a private TemporaryDirectory is made inside it
"""A RAM-backed folder: the same run with fsync costing nothing shows the software's own overhead."""
BRANCHES = 3
APPROVERS = 64
"""Concurrent approvers (requests on one event loop) in the group-commit figure: the 64 concurrent
clients of the HTTP figures (``bench_web``)."""
FEW_APPROVERS = 8
"""The same with fewer requests waiting together (smaller batches: the disk's flush weighs more)."""
APPROVE = {"decision": "approve", "comment": "同意"}

Loop = Callable[[int], int | None]
"""One go of a measured loop; returns the bundles it ran (None: one)."""


def _raw_bundle(xml: str) -> Loop:
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_str(xml.encode("utf-8"))
    spec = parser.get_spec("one_step")
    subprocesses = parser.get_subprocess_specs("one_step")

    def bundle(_n: int) -> None:
        for _ in range(BRANCHES):
            workflow = BpmnWorkflow(spec, subprocesses)
            workflow.do_engine_steps()
            [task] = workflow.get_tasks(state=TaskState.READY, manual=True)
            task.data.update(APPROVE)
            task.run()
            workflow.do_engine_steps()
            if not workflow.is_completed():
                raise AssertionError("the raw loop did not finish a branch")

    return bundle


@dataclass
class _Service:
    """A database in a folder with the one-step definition registered, and the loops run on it."""

    db: Any
    definition_id: str
    xml: str
    branches: int = 0
    """Branches the loops saw completed (checked against the database at the end)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _counted(self, finished: int) -> None:
        with self.lock:
            self.branches += finished

    def _start(self, session: Any, n: int) -> list[Any]:
        from yiwang.workflow import service as workflow_service

        return workflow_service.start_many(
            session, [(self.definition_id, {"bundle": n, "item": i}) for i in range(BRANCHES)])

    @staticmethod
    def _approve(session: Any, instance_id: str) -> Any:
        from yiwang.workflow import service as workflow_service

        [task] = workflow_service.ready_tasks(session, instance_id)
        return workflow_service.complete_task(session, instance_id, task.id, APPROVE)

    def bundle(self, n: int) -> None:
        """One bundle, each of its four write transactions committed on its own."""
        with self.db.transaction() as session:
            branches = self._start(session, n)
        for branch in branches:
            with self.db.transaction() as session:
                finished = self._approve(session, branch.id)
            if finished.status != "completed":
                raise AssertionError("the service did not finish a branch")
        self._counted(len(branches))

    async def grouped_bundle(self, n: int) -> None:
        """One bundle, each of its four write transactions a unit of the group commit (``run_write``)."""
        from yiwang.core.groupcommit import run_write

        branches = await run_write(self.db, lambda session: self._start(session, n), plain=True)
        for branch in branches:
            finished = await run_write(self.db, lambda session, b=branch.id: self._approve(session, b), plain=True)
            if finished.status != "completed":
                raise AssertionError("the service did not finish a branch")
        self._counted(len(branches))

    def concurrent(self, approvers: int, bundle: Callable[[int], Awaitable[None]],
                   loop: asyncio.AbstractEventLoop) -> Loop:
        """``approvers`` tasks on ``loop`` running ``bundle`` back to back for a turn."""
        numbers = iter(range(10**9, 2 * 10**9))

        async def approver(until: float) -> int:
            done = 0
            while time.perf_counter() < until:
                await bundle(next(numbers))
                done += 1
            return done

        async def turn_of(until: float) -> int:
            return sum(await asyncio.gather(*(approver(until) for _ in range(approvers))))

        def turn(_n: int) -> int:
            return loop.run_until_complete(turn_of(time.perf_counter() + TURN))

        return turn

    def check(self) -> None:
        """Raise unless every branch counted as finished is a completed instance in the database."""
        from sqlalchemy import text

        with self.db.transaction(write=False) as session:
            stored = session.execute(
                text("SELECT count(*) FROM workflow_instances WHERE status = 'completed'")).scalar_one()
        if stored != self.branches:
            raise RuntimeError(f"{self.branches} branches finished but {stored} instances are completed in the database")


@contextlib.contextmanager
def _service(folder: str) -> Iterator[tuple[_Service, Loop]]:
    """The service on a database in ``folder``, and the four bare commits of a bundle in the same
    database (a table of its own)."""
    from sqlalchemy import text

    import yiwang.models  # noqa: F401 - every table
    from yiwang.core.db import Base, Database
    from yiwang.core.settings import Settings
    from yiwang.workflow import service as workflow_service

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        settings = Settings(var_dir=Path(tmp), env="test", log_level="WARNING", sqlite_synchronous="FULL")
        db = Database(settings)
        Base.metadata.create_all(db.engine)
        with db.transaction() as session:
            definition = workflow_service.builtin_definition(session, "one_step")
            xml = session.execute(text("SELECT bpmn_xml FROM process_definitions WHERE id = :id"),
                                  {"id": definition.id}).scalar_one()
            session.execute(text("CREATE TABLE bench_commits (id INTEGER PRIMARY KEY, value TEXT)"))
            session.execute(text("INSERT INTO bench_commits VALUES (1, '')"))

        def commits(n: int) -> None:
            for i in range(1 + BRANCHES):
                with db.transaction() as session:
                    session.execute(text("UPDATE bench_commits SET value = :v WHERE id = 1"), {"v": f"{n}.{i}"})

        try:
            yield _Service(db, definition.id, xml), commits
        finally:
            db.dispose()


def _interleaved(loops: dict[str, Loop], seconds: float) -> dict[str, float]:
    """Bundles per second of each loop, run in turns of :data:`TURN` until each has had ``seconds``."""
    for loop in loops.values():
        loop(0)  # warm up (parses the definition once into the engine's cache)
    done = dict.fromkeys(loops, 0)
    spent = dict.fromkeys(loops, 0.0)
    n = 0
    while min(spent.values()) < seconds:
        for name, loop in loops.items():
            started = time.perf_counter()
            while (elapsed := time.perf_counter() - started) < TURN:
                n += 1
                ran = loop(n)
                done[name] += 1 if ran is None else ran
            spent[name] += elapsed
    return {name: done[name] / spent[name] for name in loops}


def run(report) -> None:  # type: ignore[no-untyped-def]
    with contextlib.ExitStack() as stack:
        disk, disk_commits = stack.enter_context(_service(tempfile.gettempdir()))
        grouped, _ = stack.enter_context(_service(tempfile.gettempdir()))
        few, _ = stack.enter_context(_service(tempfile.gettempdir()))
        event_loop = asyncio.new_event_loop()
        stack.callback(event_loop.close)
        services = [disk, grouped, few]
        loops: dict[str, Loop] = {
            "raw": _raw_bundle(disk.xml), "grouped": grouped.concurrent(APPROVERS, grouped.grouped_bundle, event_loop),
            "few": few.concurrent(FEW_APPROVERS, few.grouped_bundle, event_loop), "disk": disk.bundle,
            "commits": disk_commits,
        }
        if Path(SHM).is_dir():
            tmpfs = stack.enter_context(_service(SHM))[0]
            services.append(tmpfs)
            loops["tmpfs"] = tmpfs.bundle
        rates = _interleaved(loops, SECONDS)
        for service in services:
            service.check()
    raw = rates["raw"]
    baseline = "SpiffWorkflow raw loop in memory"
    report(f"3-branch bundles, {APPROVERS} concurrent approvers on an event loop, each write a group-commit unit"
           " (service, SQLite on disk, synchronous=FULL)", rates["grouped"], "bundles/s", baseline, raw,
           target="≥ 1/2 of the raw loop")
    report(f"3-branch bundles, {FEW_APPROVERS} concurrent approvers on an event loop, each write a group-commit unit"
           " (service, SQLite on disk, synchronous=FULL)", rates["few"], "bundles/s", baseline, raw)
    report("3-branch bundles one at a time (service, SQLite on disk, 4 durable commits each)", rates["disk"],
           "bundles/s", baseline, raw)
    if "tmpfs" in rates:
        report("3-branch bundles one at a time (service, SQLite on tmpfs: no fsync cost)", rates["tmpfs"],
               "bundles/s", baseline, raw, target="≥ 1/2 of the raw loop")
    report("the 4 durable commits of a bundle alone (SQLite on disk, one small update each)", rates["commits"],
           "bundles/s", baseline, raw)
