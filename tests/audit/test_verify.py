"""Verification names the first bad entry and the kind of tampering, on SQLite and PostgreSQL.

Each test tampers directly in the database the way a DBA with superuser rights could (guard
triggers dropped on SQLite, ``session_replication_role = replica`` on PostgreSQL)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from yiwang.audit import scan
from yiwang.audit import service as audit_service
from yiwang.audit.checkpoints import export_path
from yiwang.core.actor import SYSTEM

from .conftest import WRITER, forge_hash, insert_row, row, seed, shift, superuser


@pytest.fixture(autouse=True, params=["sequential", "parallel first pass"])
def verify_mode(request, monkeypatch):
    """Every scenario runs twice on SQLite: once sequentially, once with the parallel first pass
    switched on for short chains (it must either find the chain whole or hand over to the
    sequential pass, which names the problem)."""
    if request.param != "sequential":
        monkeypatch.setattr(scan, "PARALLEL_MIN", 1)
    return request.param


def verify(db, **kw):
    with db.transaction(write=False) as s:
        return audit_service.verify_chain(s, **kw)


def kinds(report):
    return [(p.kind, p.chain_id, p.seq) for p in report.problems]


def checkpoint(db):
    with db.transaction() as s:
        return audit_service.create_checkpoint(s, SYSTEM)


class TestIntactChain:
    def test_reports_ok_with_counts(self, db):
        seed(db, 10)
        report = verify(db)
        assert report.ok
        assert (report.entries_checked, report.chains, report.problems) == (10, 1, [])

    def test_empty_trail_is_ok(self, db):
        report = verify(db)
        assert report.ok
        assert (report.entries_checked, report.chains) == (0, 0)

    def test_checkpoints_of_an_intact_chain_hold(self, db):
        seed(db, 3)
        checkpoint(db)
        seed(db, 4)
        checkpoint(db)
        report = verify(db)
        assert report.ok
        assert (report.entries_checked, report.checkpoints_checked) == (7, 2)


class TestEdited:
    def test_names_the_edited_entry(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_entries SET target_id = 'p999' WHERE chain_id = 0 AND seq = 4"))
        assert kinds(verify(db)) == [("edited", 0, 4)]

    def test_names_an_edit_whose_hash_was_recomputed(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            r = row(conn, 4)
            r["purpose"] = "cover story"
            new = forge_hash(r, r["prev_hash"])
            conn.execute(text("UPDATE audit_entries SET purpose = 'cover story', hash = :h "
                              "WHERE chain_id = 0 AND seq = 4"), {"h": new})
        assert kinds(verify(db)) == [("edited", 0, 4)]

    def test_names_an_edit_of_the_stored_link(self, db):
        seed(db, 5)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_entries SET prev_hash = :z WHERE chain_id = 0 AND seq = 3"),
                         {"z": "f" * 64})
        assert kinds(verify(db)) == [("edited", 0, 3)]

    def test_names_an_edit_of_the_time(self, db):
        seed(db, 5)
        with superuser(db) as conn:
            r = row(conn, 2)
            conn.execute(text("UPDATE audit_entries SET at = :at WHERE chain_id = 0 AND seq = 2"),
                         {"at": row(conn, 5)["at"]})
            assert r["at"] != row(conn, 2)["at"]
        assert kinds(verify(db)) == [("edited", 0, 2)]


    def test_names_an_odd_value_stored_behind_the_applications_back(self, db):
        seed(db, 5)
        odd = "x'00ff'" if db.is_sqlite else "E'\\001'"
        with superuser(db) as conn:
            conn.execute(text(f"UPDATE audit_entries SET purpose = {odd} WHERE chain_id = 0 AND seq = 3"))
        assert kinds(verify(db)) == [("edited", 0, 3)]


class TestDeleted:
    def test_names_the_missing_entry(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE chain_id = 0 AND seq = 4"))
        assert kinds(verify(db)) == [("deleted", 0, 4)]

    def test_names_the_first_entry_when_it_is_missing(self, db):
        seed(db, 3)
        with superuser(db) as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE chain_id = 0 AND seq = 1"))
        assert kinds(verify(db)) == [("deleted", 0, 1)]

    def test_names_a_deletion_hidden_by_renumbering(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE chain_id = 0 AND seq = 6"))
            shift(conn, 6, -1)
        assert kinds(verify(db)) == [("deleted", 0, 6)]


class TestInserted:
    def test_names_a_forged_entry_slipped_into_the_chain(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            prev = row(conn, 3)
            shift(conn, 3, 1)
            forged = {**prev, "seq": 4, "target_id": "p-forged", "prev_hash": prev["hash"]}
            forged["hash"] = forge_hash(forged, prev["hash"])
            insert_row(conn, forged)
        assert kinds(verify(db)) == [("inserted", 0, 4)]

    def test_names_a_crude_forgery_with_a_made_up_hash(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            prev = row(conn, 7)
            shift(conn, 7, 1)
            insert_row(conn, {**prev, "seq": 8, "target_id": "p-forged", "prev_hash": "a" * 64, "hash": "b" * 64})
        assert kinds(verify(db)) == [("inserted", 0, 8)]

    def test_names_a_well_chained_entry_appended_behind_the_head(self, db):
        seed(db, 5)
        with superuser(db) as conn:
            last = row(conn, 5)
            forged = {**last, "seq": 6, "target_id": "p-forged", "prev_hash": last["hash"]}
            forged["hash"] = forge_hash(forged, last["hash"])
            insert_row(conn, forged)
        assert kinds(verify(db)) == [("inserted", 0, 6)]


class TestReordered:
    def test_names_swapped_neighbours(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_entries SET seq = -1 WHERE chain_id = 0 AND seq = 4"))
            conn.execute(text("UPDATE audit_entries SET seq = 4 WHERE chain_id = 0 AND seq = 5"))
            conn.execute(text("UPDATE audit_entries SET seq = 5 WHERE chain_id = 0 AND seq = -1"))
        assert kinds(verify(db)) == [("reordered", 0, 4)]

    def test_names_distant_swaps(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_entries SET seq = -1 WHERE chain_id = 0 AND seq = 3"))
            conn.execute(text("UPDATE audit_entries SET seq = 3 WHERE chain_id = 0 AND seq = 8"))
            conn.execute(text("UPDATE audit_entries SET seq = 8 WHERE chain_id = 0 AND seq = -1"))
        assert kinds(verify(db)) == [("reordered", 0, 3)]

    def test_names_an_entry_moved_to_the_end(self, db):
        seed(db, 6)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_entries SET seq = 7 WHERE chain_id = 0 AND seq = 2"))
        assert kinds(verify(db)) == [("reordered", 0, 2)]


class TestTruncated:
    def test_names_the_first_entry_cut_off_the_end(self, db):
        seed(db, 10)
        with superuser(db) as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE chain_id = 0 AND seq > 7"))
        assert kinds(verify(db)) == [("truncated", 0, 8)]

    def test_checkpoint_catches_truncation_when_the_head_was_rewound_too(self, db):
        seed(db, 10)
        checkpoint(db)
        with superuser(db) as conn:
            seven = row(conn, 7)
            conn.execute(text("DELETE FROM audit_entries WHERE chain_id = 0 AND seq > 7"))
            conn.execute(text("UPDATE audit_chain_heads SET seq = 7, hash = :h WHERE chain_id = 0"),
                         {"h": seven["hash"]})
        report = verify(db)
        assert kinds(report) == [("truncated", 0, 8)]
        assert "seq 10" in report.problems[0].message


class TestCheckpointMismatch:
    def _rewrite_from(self, conn, start: int, end: int) -> None:
        prev = row(conn, start - 1)["hash"] if start > 1 else "0" * 64
        for seq in range(start, end + 1):
            r = row(conn, seq)
            if seq == start:
                r["target_id"] = "p-rewritten"
            r["prev_hash"] = prev
            r["hash"] = forge_hash(r, prev)
            conn.execute(text("UPDATE audit_entries SET target_id = :t, prev_hash = :p, hash = :h "
                              "WHERE chain_id = 0 AND seq = :s"),
                         {"t": r["target_id"], "p": prev, "h": r["hash"], "s": seq})
            prev = r["hash"]
        conn.execute(text("UPDATE audit_chain_heads SET hash = :h WHERE chain_id = 0"), {"h": prev})

    def test_names_the_interval_of_a_consistent_rewrite(self, db):
        seed(db, 3)
        checkpoint(db)
        seed(db, 7)
        checkpoint(db)
        with superuser(db) as conn:
            self._rewrite_from(conn, 6, 10)
        report = verify(db)
        assert kinds(report) == [("checkpoint_mismatch", 0, 4)]
        assert "entries 4–10" in report.problems[0].message

    def test_a_rewrite_after_the_last_checkpoint_is_invisible_without_one(self, db):
        seed(db, 6)
        with superuser(db) as conn:
            self._rewrite_from(conn, 2, 6)
        assert verify(db).ok

    def test_prefers_the_exported_checkpoint_over_a_rewritten_database(self, db, settings):
        seed(db, 5)
        checkpoint(db)
        with superuser(db) as conn:
            self._rewrite_from(conn, 1, 5)
            conn.execute(text("DELETE FROM audit_checkpoints"))
        assert kinds(verify(db)) == [("checkpoint_mismatch", 0, 1)]

    def test_without_the_export_only_database_checkpoints_count(self, db, settings, tmp_path):
        seed(db, 5)
        checkpoint(db)
        with superuser(db) as conn:
            self._rewrite_from(conn, 1, 5)
            conn.execute(text("DELETE FROM audit_checkpoints"))
        assert verify(db, checkpoints_dir=tmp_path / "elsewhere").ok


class TestBadSignature:
    def test_names_a_database_checkpoint_forged_without_the_key(self, db, settings, tmp_path):
        seed(db, 5)
        checkpoint(db)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_checkpoints SET hash = :h WHERE chain_id = 0 AND seq = 5"),
                         {"h": "c" * 64})
        report = verify(db, checkpoints_dir=tmp_path / "none")
        assert kinds(report) == [("bad_signature", 0, 5)]

    def test_names_a_tampered_export_line(self, db, settings):
        seed(db, 5)
        checkpoint(db)
        path = export_path(settings.resolved_checkpoint_dir, 0)
        line = json.loads(path.read_text())
        line["seq"] = 4
        path.write_text(json.dumps(line) + "\n")
        assert kinds(verify(db)) == [("bad_signature", 0, 4)]


    def test_a_missing_signing_key_is_reported_not_created(self, db, settings, tmp_path):
        seed(db, 3)
        checkpoint(db)
        elsewhere = settings.model_copy(update={"key_dir": tmp_path / "empty-keys"})
        with db.transaction(write=False) as s:
            report = audit_service.verify_chain(s, settings=elsewhere)
        assert kinds(report) == [("bad_signature", 0, 3)]
        assert "not in the key directory" in report.problems[0].message
        assert not (tmp_path / "empty-keys").exists()


class TestManyChains:
    def test_spreads_requests_over_chains_and_checks_each(self, settings):
        from yiwang.core.db import Database
        from yiwang.core.jobs import bind_settings

        many = settings.model_copy(update={"audit_chains": 4})
        db = Database(many)
        bind_settings(db.engine, many)
        try:
            for i in range(12):
                seed(db, 1, request_id=f"req-many-{i:04d}")
            heads = None
            with db.transaction(write=False) as s:
                heads = audit_service.chain_heads(s)
            assert sum(seq for _c, seq, _h in heads) == 12
            assert len(heads) > 1
            report = verify(db)
            assert (report.ok, report.entries_checked, report.chains) == (True, 12, len(heads))
            victim = heads[-1][0]
            with superuser(db) as conn:
                conn.execute(text("UPDATE audit_entries SET action = 'x' WHERE chain_id = :c AND seq = 1"),
                             {"c": victim})
            assert kinds(verify(db)) == [("edited", victim, 1)]
        finally:
            db.dispose()


class TestNationalAlgorithms:
    def test_sm3_chain_with_sm2_checkpoints_verifies_and_detects(self, settings):
        from yiwang.core.db import Database
        from yiwang.core.jobs import bind_settings

        gm = settings.model_copy(update={"hash_algorithm": "sm3", "sign_algorithm": "sm2"})
        db = Database(gm)
        bind_settings(db.engine, gm)
        try:
            seed(db, 4)
            made = checkpoint(db)
            assert [(c.hash_algorithm, c.algorithm) for c in made] == [("sm3", "sm2")]
            assert verify(db).ok
            with superuser(db) as conn:
                conn.execute(text("UPDATE audit_entries SET outcome = 'denied' WHERE chain_id = 0 AND seq = 2"))
            assert kinds(verify(db)) == [("edited", 0, 2)]
        finally:
            db.dispose()

    def test_a_chain_keeps_the_algorithm_it_started_with(self, db, settings):
        seed(db, 2)
        with db.transaction() as s:
            s.info["settings"] = settings.model_copy(update={"hash_algorithm": "sm3"})
            audit_service.record(s, WRITER, "x.later")
        assert verify(db).ok


@pytest.mark.parametrize("settings", ["sqlite"], indirect=True)
class TestParallelFirstPass:
    """``scan.scan_chain`` itself, on a SQLite file (PostgreSQL verifies sequentially): whole →
    True; any damage → False; and verify_chain uses it when it applies."""

    def _path(self, db):
        return db.engine.url.database

    def test_a_whole_chain_passes(self, db):
        seed(db, 40)
        assert scan.scan_chain(self._path(db), 0, 40, "sha256") is True

    @pytest.mark.parametrize("damage", [
        "UPDATE audit_entries SET target_id = 'p999' WHERE chain_id = 0 AND seq = 17",
        "DELETE FROM audit_entries WHERE chain_id = 0 AND seq = 23",
        "UPDATE audit_entries SET prev_hash = hash WHERE chain_id = 0 AND seq = 30",
    ])
    def test_damage_anywhere_fails_it(self, db, damage):
        seed(db, 40)
        with superuser(db) as conn:
            conn.execute(text(damage))
        assert scan.scan_chain(self._path(db), 0, 40, "sha256") is False

    def test_a_swap_across_the_range_boundary_fails_it(self, db):
        seed(db, 40)
        with superuser(db) as conn:
            conn.execute(text("UPDATE audit_entries SET seq = -1 WHERE chain_id = 0 AND seq = 20"))
            conn.execute(text("UPDATE audit_entries SET seq = 20 WHERE chain_id = 0 AND seq = 21"))
            conn.execute(text("UPDATE audit_entries SET seq = 21 WHERE chain_id = 0 AND seq = -1"))
        assert scan.scan_chain(self._path(db), 0, 40, "sha256") is False

    def test_verify_runs_the_parallel_pass_on_a_long_chain(self, db, monkeypatch):
        seed(db, 30)
        calls = []
        real = scan.scan_chain
        monkeypatch.setattr(scan, "PARALLEL_MIN", 10)
        monkeypatch.setattr(scan.threading, "active_count", lambda: 1)
        monkeypatch.setattr(scan, "scan_chain", lambda *a: calls.append(a) or real(*a))
        report = verify(db)
        assert report.ok and report.entries_checked == 30
        assert [c[1:] for c in calls] == [(0, 30, "sha256")]

    def test_it_is_not_used_in_a_threaded_process_or_on_short_chains(self, monkeypatch):
        monkeypatch.setattr(scan.threading, "active_count", lambda: 3)
        assert scan.usable("/x.db", 10**6) is False
        monkeypatch.setattr(scan.threading, "active_count", lambda: 1)
        assert scan.usable("/x.db", scan.PARALLEL_MIN - 1) is False
        assert scan.usable(None, 10**6) is False
