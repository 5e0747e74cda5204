"""Bundle (一件事) workflows through the workflow service against SpiffWorkflow's raw loop.

A bundle here is three branches (并联审批), each an instance of the built-in one-step approval.
Through the service layer, per bundle: one transaction starts the three instances
(``start_many``), then one transaction per branch lists its ready tasks and completes the approval
(``ready_tasks`` + ``complete_task``): the state is read from and written to a temporary SQLite
database at every step, with the real commit (WAL, ``synchronous=FULL``).

The baseline, in the same run: the same BPMN file parsed once, then per bundle 3 × (new
``BpmnWorkflow``, ``do_engine_steps``, complete the user task, ``do_engine_steps``) in memory:
no database, no serialization. Target: the service reaches at least half the raw rate. The
service is measured twice: on disk (the real cost: each step is a durable commit, fsync included)
and, where /dev/shm exists, on tmpfs (the same code with fsync free: the overhead of loading,
serializing and saving the state).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

SECONDS = 3.0
SHM = "/dev/shm"  # noqa: S108 - a private TemporaryDirectory is made inside it
"""A RAM-backed folder: the same run with fsync costing nothing shows the software's own overhead."""
BRANCHES = 3
APPROVE = {"decision": "approve", "comment": "同意"}


def _raw_bundles_per_second(xml: str) -> float:
    from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.util.task import TaskState

    parser = BpmnParser()
    parser.add_bpmn_str(xml.encode("utf-8"))
    spec = parser.get_spec("one_step")
    subprocesses = parser.get_subprocess_specs("one_step")

    def bundle() -> None:
        for _ in range(BRANCHES):
            workflow = BpmnWorkflow(spec, subprocesses)
            workflow.do_engine_steps()
            [task] = workflow.get_tasks(state=TaskState.READY, manual=True)
            task.data.update(APPROVE)
            task.run()
            workflow.do_engine_steps()
            if not workflow.is_completed():
                raise AssertionError("the raw loop did not finish a branch")

    bundle()  # warm up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < SECONDS:
        bundle()
        done += 1
    return done / (time.perf_counter() - started)


def _service_bundles_per_second(folder: str) -> tuple[float, str]:
    """Bundles per second through the service with the database in ``folder``; also the XML."""
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

        bundle(0)  # warm up (parses the definition once into the engine's cache)
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < SECONDS:
            done += 1
            bundle(done)
        rate = done / (time.perf_counter() - started)
        db.dispose()
    return rate, xml


def run(report) -> None:  # type: ignore[no-untyped-def]
    ours, xml = _service_bundles_per_second(tempfile.gettempdir())
    baseline = _raw_bundles_per_second(xml)
    report("3-branch bundles (service, SQLite on disk, 4 durable commits each)", ours, "bundles/s",
           "SpiffWorkflow raw loop in memory", baseline, target="≥ 1/2 of the raw loop")
    if Path(SHM).is_dir():
        in_memory, _ = _service_bundles_per_second(SHM)
        report("3-branch bundles (service, SQLite on tmpfs: no fsync cost)", in_memory, "bundles/s",
               "SpiffWorkflow raw loop in memory", baseline, target="≥ 1/2 of the raw loop")
