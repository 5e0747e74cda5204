"""The application cannot change history: the ORM refuses to update or delete audit entries.

Database triggers (``audit.ddl``) refuse the same in raw SQL; these listeners fail earlier with a
clear error, including for ORM bulk ``update()``/``delete()`` statements.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from yiwang.audit.errors import AuditImmutable
from yiwang.audit.models import AuditCheckpoint, AuditEntry

_PROTECTED = (AuditEntry, AuditCheckpoint)


def _refuse(_mapper: Any, _connection: Any, target: Any) -> None:
    raise AuditImmutable(table=type(target).__tablename__)


for _cls in _PROTECTED:
    event.listen(_cls, "before_update", _refuse)
    event.listen(_cls, "before_delete", _refuse)


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    for mapper in state.all_mappers:
        if mapper.class_ in _PROTECTED:
            raise AuditImmutable(table=mapper.class_.__tablename__)
