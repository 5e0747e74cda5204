"""Bundle (一件事) workflows through the workflow service against SpiffWorkflow's raw loop.

A bundle here is three branches (并联审批), each an instance of the built-in one-step approval.
Through the service layer, per bundle: one transaction starts the three instances
(``start_many``), then one transaction per branch lists its ready tasks and completes the approval
(``ready_tasks`` + ``complete_task``): the state is read from and written to a temporary SQLite
database at every step, with the real commit (WAL, ``synchronous=FULL``).

The baseline, in the same run: the same BPMN file parsed once, then per bundle 3 × (new
``BpmnWorkflow``, ``do_engine_steps``, complete the user task, ``do_engine_steps``) in memory:
no database, no serialization. Both sides run with SpiffWorkflow's task loggers at WARNING (set
by ``workflow.engine`` for the whole process). Target: the service reaches at least half the raw
rate. The service is measured twice: on disk (the real cost: each of the four transactions is a
durable commit, fsync included) and, where /dev/shm exists, on tmpfs (the same code with fsync
free: the software's own overhead). A fourth figure measures the floor the disk sets: the same
four write transactions per bundle with nothing in them but one small row update each.

The machine is shared, so the loops are interleaved: each runs in turns of a tenth of a second
until every one has had ``SECONDS``; a load that comes and goes then weighs on all of them alike.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

SECONDS = 3.0
TURN = 0.1
SHM = "/dev/shm"  # noqa: S108 - a private TemporaryDirectory is made inside it
"""A RAM-backed folder: the same run with fsync costing nothing shows the software's own overhead."""
BRANCHES = 3
APPROVE = {"decision": "approve", "comment": "同意"}


def _raw_bundle(xml: str) -> Callable[[int], None]:
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


@contextlib.contextmanager
def _service(folder: str) -> Iterator[tuple[Callable[[int], None], Callable[[int], None], str]]:
    """A bundle through the service with the database in ``folder``, the four bare commits of a
    bundle in the same database, and the definition's XML."""
    from sqlalchemy import text

    import yiwang.models  # noqa: F401 - every table
    from yiwang.core.db import Base, Database
    from yiwang.core.settings import Settings
    from yiwang.workflow import service as workflow_service

    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        db = Database(Settings(var_dir=Path(tmp), env="test", log_level="WARNING"))
        Base.metadata.create_all(db.engine)
        with db.transaction() as session:
            definition = workflow_service.builtin_definition(session, "one_step")
            xml = workflow_service.diagram(session, workflow_service.start(session, definition.id, {}).id)[0]
            session.execute(text("CREATE TABLE bench_commits (id INTEGER PRIMARY KEY, value TEXT)"))
            session.execute(text("INSERT INTO bench_commits VALUES (1, '')"))

        def bundle(n: int) -> None:
            with db.transaction() as session:
                branches = workflow_service.start_many(
                    session, [(definition.id, {"bundle": n, "item": i}) for i in range(BRANCHES)])
            for branch in branches:
                with db.transaction() as session:
                    [task] = workflow_service.ready_tasks(session, branch.id)
                    finished = workflow_service.complete_task(session, branch.id, task.id, APPROVE)
                if finished.status != "completed":
                    raise AssertionError("the service did not finish a branch")

        def commits(n: int) -> None:
            for i in range(1 + BRANCHES):
                with db.transaction() as session:
                    session.execute(text("UPDATE bench_commits SET value = :v WHERE id = 1"), {"v": f"{n}.{i}"})

        try:
            yield bundle, commits, xml
        finally:
            db.dispose()


def _interleaved(loops: dict[str, Callable[[int], None]], seconds: float) -> dict[str, float]:
    """Runs per second of each loop, run in turns of :data:`TURN` until each has had ``seconds``."""
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
                loop(n)
                done[name] += 1
            spent[name] += elapsed
    return {name: done[name] / spent[name] for name in loops}


def run(report) -> None:  # type: ignore[no-untyped-def]
    with contextlib.ExitStack() as stack:
        on_disk, disk_commits, xml = stack.enter_context(_service(tempfile.gettempdir()))
        loops = {"raw": _raw_bundle(xml), "disk": on_disk, "commits": disk_commits}
        if Path(SHM).is_dir():
            loops["tmpfs"] = stack.enter_context(_service(SHM))[0]
        rates = _interleaved(loops, SECONDS)
    raw = rates["raw"]
    report("3-branch bundles (service, SQLite on disk, 4 durable commits each)", rates["disk"], "bundles/s",
           "SpiffWorkflow raw loop in memory", raw, target="≥ 1/2 of the raw loop")
    if "tmpfs" in rates:
        report("3-branch bundles (service, SQLite on tmpfs: no fsync cost)", rates["tmpfs"], "bundles/s",
               "SpiffWorkflow raw loop in memory", raw, target="≥ 1/2 of the raw loop")
    report("the 4 durable commits of a bundle alone (SQLite on disk, one small update each)", rates["commits"],
           "bundles/s", "SpiffWorkflow raw loop in memory", raw)
