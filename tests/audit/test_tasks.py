from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from yiwang.audit.checkpoints import export_path
from yiwang.audit.models import AuditCheckpoint
from yiwang.audit.tasks import create_checkpoints
from yiwang.core import jobs
from yiwang.worker import huey_for

from .conftest import seed


@pytest.fixture
def queue(settings):
    """The huey instance of this test's settings, running jobs as soon as they are queued."""
    q = huey_for(settings)
    q.immediate = True
    yield q
    q.immediate = False
    jobs.dispose_job_databases()


@pytest.fixture
def probe():
    calls: list[dict] = []

    @jobs.job("test.audit_probe")
    def audit_probe(db, **kwargs):
        calls.append(kwargs)

    yield calls
    jobs.JOBS.pop("test.audit_probe")


class TestCreateCheckpointsTask:
    def test_signs_and_exports_every_moved_chain(self, db, settings):
        seed(db, 3)
        assert create_checkpoints(db, force=True) == [(0, 3)]
        with db.transaction(write=False) as s:
            assert s.scalars(select(AuditCheckpoint.seq)).all() == [3]
        line = json.loads(export_path(settings.resolved_checkpoint_dir, 0).read_text())
        assert (line["chain_id"], line["seq"]) == (0, 3)

    def test_periodic_run_waits_until_due(self, db):
        seed(db, 3)
        assert create_checkpoints(db) == [(0, 3)]
        seed(db, 1)
        assert create_checkpoints(db) == []

    def test_is_scheduled_on_the_worker(self, settings):
        from datetime import datetime

        due = huey_for(settings).read_periodic(datetime(2025, 1, 1, 12, 7))
        assert "audit.create_checkpoints.periodic" in [t.name for t in due]

    def test_runs_from_the_queue_by_name(self, db, settings, queue):
        seed(db, 2)
        jobs.enqueue(settings, "audit.create_checkpoints", force=True)
        with db.transaction(write=False) as s:
            assert s.scalars(select(AuditCheckpoint.seq)).all() == [2]


class TestEnqueueAfterCommit:
    def test_queues_only_when_the_transaction_commits(self, db, queue, probe):
        with db.session() as s:
            jobs.enqueue_after_commit(s, "test.audit_probe", entry_id="e-1")
            s.flush()
            assert probe == []
            s.commit()
        assert probe == [{"entry_id": "e-1"}]

    def test_forgets_the_job_on_rollback(self, db, queue, probe):
        with db.session() as s:
            jobs.enqueue_after_commit(s, "test.audit_probe", entry_id="e-1")
            s.rollback()
            s.commit()
        assert probe == []

    def test_refuses_objects_as_arguments(self, db, probe):
        with db.session() as s, pytest.raises(TypeError):
            jobs.enqueue_after_commit(s, "test.audit_probe", entry=object())

    def test_default_queue_is_a_sqlite_file_under_var(self, settings):
        from huey import SqliteHuey

        q = huey_for(settings)
        assert isinstance(q, SqliteHuey)
        assert q.storage.filename == str(settings.var_dir / "huey.db")

    def test_a_sqlite_url_names_the_queue_file(self, settings, tmp_path):
        q = huey_for(settings.model_copy(update={"huey_url": f"sqlite:///{tmp_path / 'q' / 'jobs.db'}"}))
        assert q.storage.filename == str(tmp_path / "q" / "jobs.db")

    def test_queued_message_waits_for_a_worker(self, db, settings, probe):
        q = huey_for(settings)
        with db.session() as s:
            jobs.enqueue_after_commit(s, "test.audit_probe", entry_id="e-2")
            s.commit()
        assert probe == []
        assert q.pending_count() == 1
        message = q.dequeue()
        assert (message.name, message.kwargs) == ("test.audit_probe", {"entry_id": "e-2"})
