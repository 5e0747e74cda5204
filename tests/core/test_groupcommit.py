"""Group commit: units of work from many callers share one transaction and one commit."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import event, func, select

from yiwang.audit import service as audit_service
from yiwang.audit.models import AuditEntry
from yiwang.core.actor import SYSTEM
from yiwang.core.context import bound
from yiwang.core.errors import ValidationFailed
from yiwang.core.groupcommit import GroupCommitter
from yiwang.core.jobs import bind_settings, pending_mark, run_after_commit
from yiwang.notifications.models import Notification


def note(user: str):
    def unit(session):
        session.add(Notification(user_id=user, template="t", params={}, title="t", body="b"))
        return user

    return unit


def users(db) -> list[str]:
    with db.transaction() as s:
        return sorted(s.scalars(select(Notification.user_id)))


@pytest.fixture
def committer(db, settings):
    bind_settings(db.engine, settings)
    c = GroupCommitter(db)
    yield c
    c.close()


class TestGroupCommit:
    def test_every_unit_is_committed_and_answered(self, committer, db):
        futures = [committer.submit(note(f"u{i:03d}")) for i in range(50)]
        assert [f.result(timeout=30) for f in futures] == [f"u{i:03d}" for i in range(50)]
        assert users(db) == [f"u{i:03d}" for i in range(50)]
        assert committer.units == 50 and 1 <= committer.batches <= 50

    def test_units_waiting_together_share_a_commit(self, committer, db):
        gate = threading.Event()
        blocker = committer.submit(lambda s: gate.wait(10))
        futures = [committer.submit(note(f"w{i}")) for i in range(20)]
        gate.set()
        blocker.result(timeout=30)
        [f.result(timeout=30) for f in futures]
        assert committer.batches == 2  # the blocker's batch, then all twenty in one

    def test_a_failing_unit_gets_its_error_and_changes_nothing_while_the_others_commit(self, committer, db):
        def bad(session):
            session.add(Notification(user_id="bad", template="t", params={}, title="t", body="b"))
            session.flush()
            raise ValidationFailed("no")

        gate = threading.Event()
        committer.submit(lambda s: gate.wait(10))
        good1, failing, good2 = committer.submit(note("a")), committer.submit(bad), committer.submit(note("b"))
        gate.set()
        assert (good1.result(timeout=30), good2.result(timeout=30)) == ("a", "b")
        with pytest.raises(ValidationFailed):
            failing.result(timeout=30)
        assert users(db) == ["a", "b"]

    def test_a_failing_units_after_commit_actions_are_forgotten(self, committer):
        ran: list[str] = []

        def bad(session):
            run_after_commit(session, lambda: ran.append("bad"))
            raise ValidationFailed("no")

        def good(session):
            run_after_commit(session, lambda: ran.append("good"))
            return pending_mark(session)

        gate = threading.Event()
        committer.submit(lambda s: gate.wait(10))
        f1, f2 = committer.submit(bad), committer.submit(good)
        gate.set()
        f2.result(timeout=30)
        with pytest.raises(ValidationFailed):
            f1.result(timeout=30)
        assert ran == ["good"]

    def test_a_failed_commit_fails_every_unit_of_the_batch(self, committer, db):
        def boom(session):
            event.listen(session, "before_commit", lambda s: (_ for _ in ()).throw(RuntimeError("disk full")))
            return "x"

        gate = threading.Event()
        committer.submit(lambda s: gate.wait(10))
        f1, f2 = committer.submit(note("lost")), committer.submit(boom)
        gate.set()
        for f in (f1, f2):
            with pytest.raises(RuntimeError, match="disk full"):
                f.result(timeout=30)
        assert users(db) == []
        assert committer.submit(note("later")).result(timeout=30) == "later"  # the thread goes on

    def test_the_callers_context_reaches_the_audit_entry(self, committer, db):
        def audited(session):
            audit_service.record(session, SYSTEM, "test.grouped", target_type="t", target_id="1")
            return True

        with bound("01JREQUEST0000000000000042", "10.0.0.7"):
            future = committer.submit(audited)
        future.result(timeout=30)
        with db.transaction() as s:
            row = s.execute(select(AuditEntry.request_id, AuditEntry.source_ip)
                            .where(AuditEntry.action == "test.grouped")).one()
            assert tuple(row) == ("01JREQUEST0000000000000042", "10.0.0.7")
            assert s.scalar(select(func.count()).select_from(AuditEntry)) >= 1


def plain_note(user: str, fail: bool = False):
    """A plain unit: a prepared INSERT on the driver's cursor (core.rows), no ORM object."""
    from yiwang.core import rows

    def unit(session):
        rows.run(session, [rows.insert(session.get_bind().dialect, Notification.__table__,
                                       [{"user_id": user, "template": "t", "params": {}, "title": "t", "body": "b"}])])
        if fail:
            raise ValidationFailed()
        return user

    return unit


class TestPlainUnits:
    def test_a_failing_plain_unit_is_rolled_back_alone(self, committer, db):
        gate = threading.Event()
        committer.submit(lambda s: gate.wait(10))
        good1 = committer.submit(plain_note("a"), plain=True)
        failing = committer.submit(plain_note("bad", fail=True), plain=True)
        orm = committer.submit(note("b"))
        good2 = committer.submit(plain_note("c"), plain=True)
        gate.set()
        assert (good1.result(timeout=30), orm.result(timeout=30), good2.result(timeout=30)) == ("a", "b", "c")
        with pytest.raises(ValidationFailed):
            failing.result(timeout=30)
        assert users(db) == ["a", "b", "c"]
        assert committer.batches == 2


class TestAwaitedUnits:
    def test_units_awaited_on_a_loop_run_there_together_each_with_its_own_outcome(self, committer, db):
        import asyncio

        gate = threading.Event()
        ran_on: set[int] = set()

        def on_loop(unit):
            def wrapped(session):
                ran_on.add(threading.get_ident())
                return unit(session)
            return wrapped

        async def main():
            blocker = asyncio.get_running_loop().run_in_executor(
                None, lambda: committer.submit(lambda s: gate.wait(10)).result(30))
            await asyncio.sleep(0.2)  # the writer thread holds the turn: the units below wait together
            good = [asyncio.ensure_future(committer.run(on_loop(plain_note(f"a{i}")), plain=True)) for i in range(5)]
            failing = asyncio.ensure_future(committer.run(plain_note("bad", fail=True), plain=True))
            gone = asyncio.ensure_future(committer.run(plain_note("gone"), plain=True))
            await asyncio.sleep(0.05)
            gone.cancel()  # its request went away before the writer reached it
            gate.set()
            await blocker
            assert await asyncio.gather(*good) == [f"a{i}" for i in range(5)]
            with pytest.raises(ValidationFailed):
                await failing
            return threading.get_ident()

        loop_thread = asyncio.run(main())
        assert users(db) == [f"a{i}" for i in range(5)]  # not the failing one, not the cancelled one
        assert ran_on == {loop_thread}  # on the loop's own thread, not the writer thread
        assert committer.batches == 2  # the blocker's batch, then the six waiting units in one

    def test_a_loop_waits_for_another_processs_writer_without_blocking(self, committer, db):
        import asyncio

        from yiwang.core.groupcommit import WriterTurn

        if not db.is_sqlite:
            # PostgreSQL's writers run side by side: the turn is only this process's writers'.
            assert committer._turn.path is None
            return
        other = WriterTurn(db.engine.url.database + "-writer.lock")  # another open file: as another process
        other.__enter__()
        ticks = 0

        async def main():
            nonlocal ticks
            unit = asyncio.ensure_future(committer.run(plain_note("late"), plain=True))
            for _ in range(20):
                await asyncio.sleep(0.01)
                ticks += 1  # the loop goes on while the unit waits for the turn
            assert not unit.done()
            other.__exit__()
            return await unit

        try:
            assert asyncio.run(main()) == "late"
        finally:
            other.close()
        assert ticks == 20 and users(db) == ["late"]

    def test_a_batch_that_cannot_begin_fails_its_callers_and_the_writer_goes_on(self, committer, db):
        import asyncio

        real = db.session
        calls = []

        def broken_once(**kw):
            calls.append(1)
            if len(calls) == 1:
                raise OSError("disk gone")
            return real(**kw)

        db.session = broken_once
        try:
            async def main():
                first = await asyncio.gather(committer.run(plain_note("lost"), plain=True), return_exceptions=True)
                assert isinstance(first[0], OSError)
                return await committer.run(plain_note("later"), plain=True)

            assert asyncio.run(main()) == "later"
        finally:
            db.session = real
        assert users(db) == ["later"]
