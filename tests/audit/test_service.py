from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from yiwang.audit import service as audit_service
from yiwang.audit.checkpoints import export_path, signed_payload
from yiwang.audit.errors import AuditImmutable, BadCursor
from yiwang.audit.models import AuditCheckpoint, AuditEntry
from yiwang.core.actor import SYSTEM
from yiwang.core.context import bound
from yiwang.core.crypto import public_key, verify_signature
from yiwang.core.errors import PermissionDenied

from .conftest import (
    AUDITOR,
    CLERK,
    DISTRICT_AUDITOR,
    SYS_ADMIN,
    WRITER,
    forge_hash,
    row,
    seed,
)


def entries(db) -> list[dict]:
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(text(
            "SELECT * FROM audit_entries ORDER BY chain_id, seq")).mappings()]


def verified(db):
    with db.transaction(write=False) as s:
        return audit_service.verify_chain(s)


class TestRecord:
    def test_writes_who_what_where_why_and_from_where(self, db):
        with bound("req-abc-12345", "203.0.113.5"), db.transaction() as s:
            audit_service.record(s, WRITER, "registry.person.read_personal", target_type="person",
                                 target_id="p-1", area_code="310101002", purpose="核实低保资格",
                                 detail={"fields": ["id_number"], "b": 2})
        (e,) = entries(db)
        assert {k: e[k] for k in ("chain_id", "seq", "actor", "actor_user_id", "action", "target_type",
                                  "target_id", "area_code", "purpose", "outcome", "request_id", "source_ip",
                                  "detail", "prev_hash")} == {
            "chain_id": 0, "seq": 1, "actor": "staff:u-w", "actor_user_id": "u-w",
            "action": "registry.person.read_personal", "target_type": "person", "target_id": "p-1",
            "area_code": "310101002", "purpose": "核实低保资格", "outcome": "ok",
            "request_id": "req-abc-12345", "source_ip": "203.0.113.5",
            "detail": '{"b":2,"fields":["id_number"]}', "prev_hash": "0" * 64,
        }
        assert e["hash"] == forge_hash(e, "0" * 64)

    def test_is_part_of_the_callers_transaction(self, db):
        with db.session() as s:
            audit_service.record(s, WRITER, "x.change")
            s.rollback()
        assert entries(db) == []
        with db.transaction(write=False) as s:
            assert audit_service.chain_heads(s) == []

    def test_links_each_entry_to_the_one_before(self, db):
        seed(db, 3)
        rows = entries(db)
        assert [r["seq"] for r in rows] == [1, 2, 3]
        assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:2]]
        with db.transaction(write=False) as s:
            assert audit_service.chain_heads(s) == [(0, 3, rows[-1]["hash"])]

    def test_system_and_anonymous_actors_have_labels(self, db):
        from yiwang.core.actor import ANONYMOUS

        with db.transaction() as s:
            audit_service.record(s, SYSTEM, "x.job")
            audit_service.record(s, ANONYMOUS, "x.denied", outcome="denied")
        assert [(r["actor"], r["actor_user_id"], r["outcome"]) for r in entries(db)] == [
            ("system", None, "ok"), ("anonymous", None, "denied")]

    def test_stores_text_any_backend_accepts_and_still_verifies(self, db):
        with db.transaction() as s:
            audit_service.record(s, WRITER, "x.odd", purpose="a\x00b\ud800c", target_id="t" * 300)
        (e,) = entries(db)
        assert (e["purpose"], len(e["target_id"])) == ("a\ufffdb?c", 100)
        assert verified(db).ok

    def test_concurrent_writers_never_fork_the_chain(self, db):
        errors: list[BaseException] = []

        def write(n: int) -> None:
            try:
                for i in range(8):
                    with bound(f"req-thread-{n}-{i}"), db.transaction() as s:
                        audit_service.record(s, WRITER, "x.concurrent", target_id=f"{n}-{i}")
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert [r["seq"] for r in entries(db)] == list(range(1, 33))
        report = verified(db)
        assert (report.ok, report.entries_checked) == (True, 32)


class TestRecordMany:
    def test_appends_a_batch_in_order_in_one_go(self, db):
        with bound("req-batch-0001", "10.1.1.1"), db.transaction() as s:
            audit_service.record_many(s, SYSTEM, [
                {"action": "registry.person.import", "target_type": "person", "target_id": f"p{i}",
                 "area_code": "310101", "detail": {"row": i}} for i in range(1, 6)
            ])
        rows = entries(db)
        assert [(r["seq"], r["target_id"], r["request_id"]) for r in rows] == [
            (i, f"p{i}", "req-batch-0001") for i in range(1, 6)]
        assert verified(db).ok

    def test_continues_the_chain_after_single_entries(self, db):
        seed(db, 2)
        with db.transaction() as s:
            audit_service.record_many(s, SYSTEM, [{"action": "a"}, {"action": "b", "outcome": "failed"}])
        seed(db, 1)
        assert [(r["seq"], r["action"]) for r in entries(db)][1:4] == [(2, "registry.person.write"), (3, "a"), (4, "b")]
        assert verified(db).ok

    def test_empty_batch_writes_nothing(self, db):
        with db.transaction() as s:
            audit_service.record_many(s, SYSTEM, [])
        assert entries(db) == []


class TestNothingCanChangeHistory:
    def test_orm_update_is_refused(self, db):
        seed(db, 1)
        with db.session() as s:
            entry = s.get(AuditEntry, (0, 1))
            entry.action = "forged"
            with pytest.raises(AuditImmutable):
                s.flush()
            s.rollback()
        assert entries(db)[0]["action"] == "registry.person.write"

    def test_orm_delete_is_refused(self, db):
        seed(db, 1)
        with db.session() as s:
            s.delete(s.get(AuditEntry, (0, 1)))
            with pytest.raises(AuditImmutable):
                s.flush()
            s.rollback()
        assert len(entries(db)) == 1

    def test_orm_bulk_update_is_refused(self, db):
        seed(db, 1)
        with db.session() as s, pytest.raises(AuditImmutable):
            s.execute(update(AuditEntry).values(action="forged"))
        assert entries(db)[0]["action"] == "registry.person.write"

    @pytest.mark.parametrize("statement", [
        "UPDATE audit_entries SET action = 'forged'",
        "DELETE FROM audit_entries WHERE seq = 1",
        "TRUNCATE audit_entries",
        "UPDATE audit_checkpoints SET hash = 'x'",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_chain_heads SET seq = 0",
        "DELETE FROM audit_chain_heads",
    ])
    def test_raw_sql_is_refused_by_the_database(self, db, statement):
        seed(db, 2)
        with db.transaction() as s:
            audit_service.create_checkpoint(s, SYSTEM)
        if db.is_sqlite and statement.startswith("TRUNCATE"):
            statement = "DELETE FROM audit_entries"
        before = entries(db)
        with db.session() as s, pytest.raises(DBAPIError) as info:
            s.execute(text(statement))
        assert "audit" in str(info.value.orig)
        assert entries(db) == before
        with db.transaction(write=False) as s:
            assert [(c, seq) for c, seq, _h in audit_service.chain_heads(s)] == [(0, 2)]
            assert s.scalar(select(AuditCheckpoint.hash)) == before[-1]["hash"]

    def test_heads_move_forward(self, db):
        seed(db, 3)
        with db.transaction() as s:
            s.execute(text("UPDATE audit_chain_heads SET seq = seq WHERE chain_id = 0"))
        with db.session() as s, pytest.raises(DBAPIError):
            s.execute(text("UPDATE audit_chain_heads SET seq = 2 WHERE chain_id = 0"))


class TestGuardsDdl:
    def test_installing_twice_changes_nothing(self, db):
        from yiwang.audit.ddl import install_guards

        seed(db, 1)
        with db.engine.begin() as conn:
            install_guards(conn)
            install_guards(conn)
        with db.session() as s, pytest.raises(DBAPIError):
            s.execute(text("DELETE FROM audit_entries"))
        assert len(entries(db)) == 1


class TestCheckpoints:
    def test_signs_and_exports_each_chain_head(self, db, settings):
        seed(db, 4)
        with db.transaction() as s:
            (made,) = audit_service.create_checkpoint(s, SYSTEM)
        head = entries(db)[-1]
        assert (made.chain_id, made.seq, made.hash, made.hash_algorithm, made.algorithm) == (
            0, 4, head["hash"], "sha256", "ed25519")
        assert verify_signature("ed25519", public_key(settings, "ed25519"),
                                signed_payload(0, 4, head["hash"], "sha256", made.at), made.signature)
        lines = export_path(settings.resolved_checkpoint_dir, 0).read_text().splitlines()
        assert [json.loads(x)["seq"] for x in lines] == [4]
        assert json.loads(lines[0])["signature"] == made.signature

    def test_skips_chains_that_did_not_move(self, db, settings):
        seed(db, 2)
        with db.transaction() as s:
            audit_service.create_checkpoint(s, SYSTEM)
        with db.transaction() as s:
            assert audit_service.create_checkpoint(s, SYSTEM) == []
        seed(db, 1)
        with db.transaction() as s:
            assert [c.seq for c in audit_service.create_checkpoint(s, SYSTEM)] == [3]
        lines = export_path(settings.resolved_checkpoint_dir, 0).read_text().splitlines()
        assert [json.loads(x)["seq"] for x in lines] == [2, 3]

    def test_rolled_back_checkpoint_is_not_exported(self, db, settings):
        seed(db, 2)
        with db.session() as s:
            audit_service.create_checkpoint(s, SYSTEM)
            s.rollback()
        assert not export_path(settings.resolved_checkpoint_dir, 0).exists()
        with db.transaction(write=False) as s:
            assert s.scalars(select(AuditCheckpoint)).all() == []

    def test_only_due_waits_for_enough_entries_or_time(self, db, settings):
        seed(db, 2)
        with db.transaction() as s:
            audit_service.create_checkpoint(s, SYSTEM, only_due=True)
        seed(db, 1)
        with db.transaction() as s:
            assert audit_service.create_checkpoint(s, SYSTEM, only_due=True) == []
        with db.transaction() as s:
            s.info["settings"] = settings.model_copy(update={"audit_checkpoint_every": 1})
            assert [c.seq for c in audit_service.create_checkpoint(s, SYSTEM, only_due=True)] == [3]

    def test_only_due_signs_a_ten_minute_old_chain(self, db, settings, monkeypatch):
        from yiwang.audit import checkpoints

        seed(db, 2)
        with db.transaction() as s:
            (first,) = audit_service.create_checkpoint(s, SYSTEM)
        seed(db, 1)
        monkeypatch.setattr(checkpoints, "utcnow", lambda: first.at + timedelta(minutes=10, seconds=1))
        with db.transaction() as s:
            assert [c.seq for c in audit_service.create_checkpoint(s, SYSTEM, only_due=True)] == [3]

    def test_refuses_to_sign_a_head_that_disagrees_with_its_entry(self, db, settings):
        from .conftest import superuser

        seed(db, 2)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_chain_heads SET hash = :h WHERE chain_id = 0"), {"h": "d" * 64})
        with db.transaction() as s:
            assert audit_service.create_checkpoint(s, SYSTEM) == []
        assert not export_path(settings.resolved_checkpoint_dir, 0).exists()

    def test_refused_to_a_clerk(self, db, settings):
        seed(db, 2)
        with db.transaction() as s, pytest.raises(PermissionDenied):
            audit_service.create_checkpoint(s, CLERK)
        with db.transaction(write=False) as s:
            assert s.scalars(select(AuditCheckpoint)).all() == []


def _seed_mixed(db) -> None:
    plan = [
        ("u-a", "registry.person.read_personal", "person", "p1", "310101002"),
        ("u-b", "registry.person.write", "person", "p2", "310104001"),
        ("u-a", "registry.entity.write", "entity", "e1", "310101"),
        ("u-c", "identity.user.create", "user", "u-z", None),
        ("u-a", "registry.person.read_personal", "person", "p1", "310101002001"),
    ]
    from yiwang.core.actor import Actor

    for i, (uid, action, ttype, tid, area) in enumerate(plan):
        with bound(f"req-mixed-{i:04d}"), db.transaction() as s:
            audit_service.record(s, Actor(kind="staff", user_id=uid), action, target_type=ttype,
                                 target_id=tid, area_code=area)


def _list(db, who, **kw):
    cursor = kw.pop("cursor", None)
    limit = kw.pop("limit", 50)
    with db.transaction() as s:
        return audit_service.list_entries(s, who, audit_service.EntryFilter(**kw), cursor=cursor, limit=limit)


class TestListEntries:
    def test_newest_first(self, db):
        _seed_mixed(db)
        page = _list(db, AUDITOR)
        assert [e.seq for e in page.items] == [5, 4, 3, 2, 1]
        assert page.next_cursor is None

    @pytest.mark.parametrize(("filters", "seqs"), [
        ({"actor": "u-a"}, [5, 3, 1]),
        ({"actor": "staff:u-b"}, [2]),
        ({"action": "registry.person.read_personal"}, [5, 1]),
        ({"target_type": "person", "target_id": "p1"}, [5, 1]),
        ({"area_code": "310101"}, [5, 3, 1]),
        ({"area_code": "310101002"}, [5, 1]),
    ])
    def test_filters(self, db, filters, seqs):
        _seed_mixed(db)
        assert [e.seq for e in _list(db, AUDITOR, **filters).items] == seqs

    def test_time_window(self, db):
        _seed_mixed(db)
        at = {e.seq: e.at for e in _list(db, AUDITOR).items}
        assert [e.seq for e in _list(db, AUDITOR, since=at[2], until=at[4]).items] == [3, 2]

    def test_pages_by_keyset_without_gaps_or_repeats(self, db):
        _seed_mixed(db)
        first = _list(db, AUDITOR, limit=2)
        second = _list(db, AUDITOR, limit=2, cursor=first.next_cursor)
        third = _list(db, AUDITOR, limit=2, cursor=second.next_cursor)
        assert [[e.seq for e in p.items] for p in (first, second, third)] == [[5, 4], [3, 2], [1]]
        assert (first.next_cursor, third.next_cursor) == ("0.4", None)

    def test_the_read_is_itself_audited(self, db):
        _seed_mixed(db)
        with bound("req-read-0001", "10.9.9.9"):
            _list(db, AUDITOR, action="registry.entity.write")
        last = entries(db)[-1]
        assert (last["action"], last["actor"], last["request_id"], last["outcome"]) == (
            "audit.read", "staff:u-aud", "req-read-0001", "ok")
        assert json.loads(last["detail"]) == {"cursor": None, "filters": {"action": "registry.entity.write"},
                                              "returned": 1}

    def test_a_district_auditor_sees_only_the_district(self, db):
        _seed_mixed(db)
        assert [e.seq for e in _list(db, DISTRICT_AUDITOR).items] == [5, 3, 1]

    def test_a_district_auditor_pages_through_the_district(self, db):
        _seed_mixed(db)
        first = _list(db, DISTRICT_AUDITOR, limit=1)
        second = _list(db, DISTRICT_AUDITOR, limit=1, cursor=first.next_cursor)
        third = _list(db, DISTRICT_AUDITOR, limit=1, cursor=second.next_cursor)
        assert [[e.seq for e in p.items] for p in (first, second, third)] == [[5], [3], [1]]
        assert third.next_cursor is None

    def test_a_district_auditor_cannot_ask_for_the_city(self, db):
        with pytest.raises(PermissionDenied):
            _list(db, DISTRICT_AUDITOR, area_code="31")

    @pytest.mark.parametrize("actor", [SYS_ADMIN, CLERK, WRITER])
    def test_refused_to_everyone_but_auditors(self, db, actor):
        _seed_mixed(db)
        with pytest.raises(PermissionDenied) as info:
            _list(db, actor)
        assert info.value.permission == "audit.read"
        assert len(entries(db)) == 5

    def test_refuses_a_bad_cursor(self, db):
        with pytest.raises(BadCursor):
            _list(db, AUDITOR, cursor="not-a-cursor")

    def test_entries_show_their_detail_as_data(self, db):
        seed(db, 1)
        (item,) = _list(db, AUDITOR).items
        assert item.detail == {"n": 1}


class TestRunVerification:
    def test_records_the_verification(self, db):
        seed(db, 3)
        with db.transaction() as s:
            report = audit_service.run_verification(s, AUDITOR)
        assert report.ok
        last = entries(db)[-1]
        assert (last["action"], json.loads(last["detail"])) == (
            "audit.verify", {"chains": 1, "entries_checked": 3, "ok": True, "problems": []})

    def test_refused_to_the_system_administrator(self, db):
        seed(db, 3)
        with db.transaction() as s, pytest.raises(PermissionDenied):
            audit_service.run_verification(s, SYS_ADMIN)
        assert len(entries(db)) == 3


def test_row_helper_reads_what_record_wrote(db):
    seed(db, 1)
    with db.engine.connect() as conn:
        assert row(conn, 1)["target_id"] == "p1"
