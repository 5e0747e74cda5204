"""JSON API of 好差评: rectifications for departments and supervisors, and statistics.
(The applicant's "rate" route belongs to the applications API.)"""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter

from yiwang.core.web import DbSession, ReadDbSession, SignedInActor
from yiwang.ratings import service as ratings_service
from yiwang.ratings.schemas import CloseBody, RectificationRead, ReplyBody, StatRow

router = APIRouter(prefix="/api/v1/ratings", tags=["ratings"])


@router.get("/rectifications", response_model=list[RectificationRead])
def list_rectifications(session: ReadDbSession, actor: SignedInActor, status: str | None = None,
                        department_id: str | None = None) -> list[RectificationRead]:
    """Rectifications of bad ratings the caller may see, earliest due first."""
    return ratings_service.rectifications(session, actor, status=status, department_id=department_id)


@router.post("/rectifications/{rectification_id}/reply", response_model=RectificationRead)
def reply(rectification_id: str, body: ReplyBody, session: DbSession, actor: SignedInActor) -> RectificationRead:
    """The department's reply to the rater (rating.respond for that department)."""
    return ratings_service.reply(session, actor, rectification_id, body.text)


@router.post("/rectifications/{rectification_id}/close", response_model=RectificationRead)
def close(rectification_id: str, body: CloseBody, session: DbSession, actor: SignedInActor) -> RectificationRead:
    """A supervisor closes a rectification with a note (rating.supervise)."""
    return ratings_service.close(session, actor, rectification_id, body.note)


@router.get("/statistics", response_model=list[StatRow])
def statistics(session: ReadDbSession, actor: SignedInActor, by: str = "service", area_code: str | None = None,
               since: date | None = None, until: date | None = None) -> list[StatRow]:
    """Rating count, average and share of each level per service, department or channel."""
    return ratings_service.statistics(session, actor, by=by, area_code=area_code, since=since, until=until)
