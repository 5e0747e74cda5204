"""The direct statements of a step against the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from yiwang.core.db import utcnow
from yiwang.workflow import repository


class TestDirectStatements:
    def test_an_error_is_sqlalchemys(self, session) -> None:
        now = utcnow()
        row = {"id": "01J0000000000000000000TEST", "definition_id": "no-such-definition", "status": "running",
               "state": "{}", "data": "{}", "active": "", "tasks": "[]", "created_at": now, "updated_at": now}

        with pytest.raises(IntegrityError):
            repository.insert_instances(session, [row])

    def test_a_missing_row_is_none(self, session) -> None:
        assert repository.instance_for_step(session, "nope") is None
        assert repository.instance_tasks(session, "nope") is None
