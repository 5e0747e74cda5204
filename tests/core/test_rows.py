"""core.rows: prepared INSERTs store exactly what the ORM would, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from yiwang.applications.models import Application, Branch
from yiwang.core import rows
from yiwang.notifications.models import Notification


def _app(app_id: str, key: str | None, **kw) -> rows.New:
    at = datetime(2026, 9, 30, 8, 15, 1, 123456, tzinfo=UTC)
    return rows.New(id=app_id, number=f"N{app_id[-10:]}", subject_kind="item", subject_code="X-1",
                    subject_version_id="V" * 26, subject_name="测试事项", applicant_kind="person",
                    filed_by_user_id="U" * 26, channel="online", area_code="310101", status="submitted",
                    data_enc="v1.x", idempotency_key=key, created_at=at, submitted_at=at, updated_at=at, **kw)


class TestInsert:
    def test_rows_read_back_as_the_orm_writes_them(self, db):
        dialect = db.engine.dialect
        app = _app("01ROWS00000000000000000001", "k1")
        branch = rows.New(id="01ROWSBR000000000000000001", application_id=app.id, position=0, item_code="X-1",
                          item_version_id="V" * 26, item_name="测试事项", department_id="D" * 26, area_code="31",
                          status="pending", limit_days=5, due_date=date(2026, 10, 13), due_estimated=True)
        with db.transaction() as s:
            rows.run(s, [rows.insert(dialect, Application.__table__, [app]), rows.insert(dialect, Branch.__table__, [branch]),
                         rows.insert(dialect, Notification.__table__, [
                             {"user_id": "u1", "template": "t", "params": {"参考": "甲"}, "title": "标题", "body": "b"}])])
        with db.transaction(write=False) as s:
            got = s.get(Application, app.id)
            assert got.created_at == app.created_at and got.subject_name == "测试事项" and got.reason is None
            b = s.get(Branch, branch.id)
            assert (b.due_date, b.due_estimated, b.tasks, b.pauses) == (date(2026, 10, 13), True, "[]", "[]")
            n = s.scalars(select(Notification)).one()
            assert n.params == {"参考": "甲"} and len(n.id) == 26 and n.created_at.tzinfo is not None
            assert n.read_at is None

    def test_a_skipped_conflict_writes_nothing_and_says_so(self, db):
        dialect = db.engine.dialect
        key = ("filed_by_user_id", "idempotency_key")
        with db.transaction() as s:
            assert rows.run(s, [rows.insert(dialect, Application.__table__, [_app("01ROWS00000000000000000002", "k")],
                                            skip_conflict=key)]) == [1]
            assert rows.run(s, [rows.insert(dialect, Application.__table__, [_app("01ROWS00000000000000000003", "k")],
                                            skip_conflict=key)]) == [0]
        with db.transaction(write=False) as s:
            assert s.scalar(text("SELECT count(*) FROM applications")) == 1

    def test_no_rows_is_refused(self, db):
        with pytest.raises(ValueError):
            rows.insert(db.engine.dialect, Notification.__table__, [])


class TestStatement:
    def test_named_parameters_become_the_drivers(self, db):
        update = rows.Statement("UPDATE notifications SET title = :t WHERE user_id = :u RETURNING id, title")
        with db.transaction() as s:
            rows.run(s, [rows.insert(s.get_bind().dialect, Notification.__table__, [
                {"user_id": "u9", "template": "t", "params": {}, "title": "old", "body": "b"}])])
            row = update.run(s, t="新", u="u9").fetchone()
            assert row[1] == "新"
        with db.transaction(write=False) as s:
            assert s.scalars(select(Notification.title)).all() == ["新"]


class TestNewRow:
    def test_a_new_row_reads_like_an_orm_object_and_inserts_like_one(self, db):
        values = dict(_app("01ROWSNEW00000000000000001", "k9"))
        row = rows.New(values)
        row.status = "accepted"
        assert (row.status, row["status"], row.number) == ("accepted", "accepted", values["number"])
        with pytest.raises(AttributeError):
            _ = row.closed_at  # a column the row does not give is not made up
        with db.transaction() as s:
            rows.run(s, [rows.insert(db.engine.dialect, Application.__table__, [row])])
        with db.transaction() as s:
            stored = s.get(Application, row.id)
            assert (stored.status, stored.created_at, stored.closed_at) == ("accepted", values["created_at"], None)
            assert Application(**row).status == "accepted"  # and makes the ORM object where one is needed
