"""The worker process: queued jobs and periodic work (audit checkpoints, deadlines, …) on huey.

``yiwang worker`` calls :func:`run_worker`. Jobs are declared in each domain's ``tasks.py`` with
``core.jobs.job``; this module imports them all, so the consumer knows every job by name. Several
worker processes may run against PostgreSQL and a Redis queue (``settings.huey_url``).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from typing import Any

import yiwang
from yiwang.core.jobs import JOBS, dispose_job_databases, enqueue, queue_for
from yiwang.core.logging import configure_logging
from yiwang.core.settings import Settings

log = logging.getLogger("yiwang.worker")

__all__ = ["enqueue", "huey_for", "load_tasks", "run_worker"]


def load_tasks() -> list[str]:
    """Import every ``yiwang.<domain>.tasks`` module; returns the job names now declared."""
    for info in pkgutil.iter_modules(yiwang.__path__):
        if info.ispkg and importlib.util.find_spec(f"yiwang.{info.name}.tasks") is not None:
            importlib.import_module(f"yiwang.{info.name}.tasks")
    return sorted(JOBS)


def huey_for(settings: Settings) -> Any:
    """The huey instance built from ``settings`` with every domain's jobs registered."""
    load_tasks()
    return queue_for(settings)


def run_worker(settings: Settings, workers: int = 2) -> None:
    """Run the consumer in this process until interrupted: queued jobs and periodic ones."""
    configure_logging(settings.log_level)
    huey = huey_for(settings)
    log.info("worker starting", extra={"workers": workers, "jobs": sorted(JOBS)})
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True, check_worker_health=True)
    try:
        consumer.run()
    finally:
        dispose_job_databases()
