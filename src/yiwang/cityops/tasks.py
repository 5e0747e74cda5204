"""Jobs of 一网统管: the escalation of overdue events (超期督办), every five minutes."""

from __future__ import annotations

from yiwang.cityops import service
from yiwang.core.db import Database
from yiwang.core.jobs import job


@job("cityops.escalate_overdue", periodic={"minute": "*/5", "hour": "*"})
def escalate_overdue(db: Database) -> int:
    """Escalate overdue events one level up, once per level, in batches."""
    total = 0
    while True:
        with db.transaction() as session:
            n = service.escalate_overdue(session, batch=service.ESCALATION_BATCH)
        total += n
        if n < service.ESCALATION_BATCH:
            return total
