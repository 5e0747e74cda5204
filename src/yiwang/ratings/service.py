"""Use cases of 好差评: rate a closed application, rectify bad ratings, statistics.

A score of 1 (非常不满意) or 2 (不满意) opens a rectification (差评整改) for the department, due in
15 working days; the department replies to the rater (through the inbox) and a supervisor (督办)
closes it. Statistics group ratings per service, department or channel.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yiwang.audit import service as audit_service
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.core.fieldcrypt import FieldCipher
from yiwang.core.ids import new_id
from yiwang.notifications import service as notifications_service
from yiwang.ratings import errors, repository
from yiwang.ratings.models import Rating, Rectification
from yiwang.ratings.schemas import RatingRead, RectificationRead, StatRow
from yiwang.workdays import service as workdays_service

log = logging.getLogger("yiwang.ratings")

CHANNELS = ("online", "hall", "app", "hotline")
BAD_SCORES = (1, 2)
RECTIFY_WORKING_DAYS = 15
COMMENT_LIMIT = 500
STATUSES = ("open", "replied", "closed")
Grouping = Literal["service", "department", "channel"]


def _aad(rating_id: str) -> str:
    return f"ratings.comment:{rating_id}"


def _comment(session: Session, rating: Rating) -> str | None:
    if rating.comment_enc is None:
        return None
    return FieldCipher.for_session(session).decrypt(rating.comment_enc, _aad(rating.id))


def is_rated(session: Session, subject_type: str, subject_id: str) -> bool:
    """Whether the subject has its rating already (no permission check: a yes/no for the owner's page)."""
    return repository.rating_for_subject(session, subject_type, subject_id) is not None


def rate(
    session: Session,
    actor: Actor,
    *,
    subject_type: str,
    subject_id: str,
    service_code: str,
    department_id: str,
    area_code: str,
    channel: str,
    score: int,
    comment: str | None = None,
) -> RatingRead:
    """Record the actor's rating of a closed subject; a score of 1 or 2 opens a rectification due
    in 15 working days. Refuses a second rating of the subject (``already_rated``), a score outside
    1–5 and an unknown channel.

    The CALLER (the applications service) checks that the actor is the applicant of a closed
    application before calling: this function knows nothing of applications."""
    if not actor.is_authenticated or actor.user_id is None:
        raise AuthenticationRequired()
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise errors.InvalidScore()
    if channel not in CHANNELS:
        raise errors.InvalidChannel(channel=channel)
    text = (comment or "").strip() or None
    if text is not None and len(text) > COMMENT_LIMIT:
        raise errors.CommentTooLong(limit=COMMENT_LIMIT)
    if repository.rating_for_subject(session, subject_type, subject_id) is not None:
        raise errors.AlreadyRated()
    rating_id = new_id()
    rating = Rating(
        id=rating_id, subject_type=subject_type, subject_id=subject_id, service_code=service_code,
        department_id=department_id, area_code=area_code, channel=channel, rater_user_id=actor.user_id,
        score=score, created_at=utcnow(),
        comment_enc=FieldCipher.for_session(session).encrypt(text, _aad(rating_id)) if text else None)
    try:
        with session.begin_nested():
            repository.add(session, rating)
            session.flush()
    except IntegrityError as exc:  # rated at the same moment in another transaction
        raise errors.AlreadyRated() from exc
    rect: Rectification | None = None
    if score in BAD_SCORES:
        due = workdays_service.add_working_days(session, workdays_service.today(), RECTIFY_WORKING_DAYS)
        rect = Rectification(id=new_id(), rating_id=rating.id, department_id=department_id, status="open",
                             due_date=due.date, due_estimated=bool(due.estimated), created_at=utcnow())
        repository.add(session, rect)
        session.flush()
    audit_service.record(session, actor, "rating.create", target_type=subject_type, target_id=subject_id,
                         area_code=area_code, detail={"rating_id": rating.id, "score": score, "channel": channel,
                                                      "rectification_id": rect.id if rect else None})
    log.info("rating recorded", extra={"rating_id": rating.id, "score": score})
    return RatingRead(id=rating.id, subject_type=subject_type, subject_id=subject_id, service_code=service_code,
                      department_id=department_id, area_code=area_code, channel=channel, score=score,
                      comment=text, created_at=rating.created_at, rectification_id=rect.id if rect else None)


def _read(session: Session, rect: Rectification, rating: Rating, today: date) -> RectificationRead:
    return RectificationRead(
        id=rect.id, rating_id=rating.id, department_id=rect.department_id, area_code=rating.area_code,
        service_code=rating.service_code, subject_type=rating.subject_type, subject_id=rating.subject_id,
        score=rating.score, comment=_comment(session, rating), status=rect.status, due_date=rect.due_date,
        due_estimated=rect.due_estimated, overdue=rect.status == "open" and rect.due_date < today,
        reply=rect.reply, replied_at=rect.replied_at, supervisor_note=rect.supervisor_note, closed_at=rect.closed_at)


def rectifications(session: Session, actor: Actor, status: str | None = None,
                   department_id: str | None = None) -> list[RectificationRead]:
    """Rectifications the actor may see, earliest due first, overdue ones flagged: a department's
    staff (``rating.respond``) see their department's (or their area's, for a grant without a
    department); supervisors (``rating.supervise``) all in their area. Refuses anyone with neither."""
    scopes = actor.scopes("rating.respond") + actor.scopes("rating.supervise")
    if not scopes:
        raise PermissionDenied(permission="rating.respond", target="rectifications")
    wanted = status if status in STATUSES else None
    rows = repository.rectifications(session, scopes, status=wanted, department_id=department_id or None)
    today = workdays_service.today()
    return [_read(session, rect, rating, today) for rect, rating in rows]


def _load(session: Session, rectification_id: str) -> tuple[Rectification, Rating]:
    found = repository.rectification(session, rectification_id)
    if found is None:
        raise errors.RectificationNotFound()
    return found


def reply(session: Session, actor: Actor, rectification_id: str, text: str) -> RectificationRead:
    """The department's reply to the rater (``rating.respond`` for that department and area); the
    rater is told through the inbox. Refuses an empty reply and a closed rectification."""
    if not actor.scopes("rating.respond"):  # refused before saying whether the id exists
        raise PermissionDenied(permission="rating.respond", target=f"rectification:{rectification_id}")
    rect, rating = _load(session, rectification_id)
    actor.require("rating.respond", area_code=rating.area_code, department_id=rect.department_id,
                  target=f"rectification:{rect.id}")
    body = (text or "").strip()
    if not body:
        raise errors.ReplyRequired()
    if rect.status == "closed":
        raise errors.RectificationClosed()
    rect.reply, rect.replied_by, rect.replied_at, rect.status = body, actor.user_id, utcnow(), "replied"
    session.flush()
    notifications_service.notify(
        session, rating.rater_user_id, "rating.replied",
        {"rating_id": rating.id, "rectification_id": rect.id, "subject_type": rating.subject_type,
         "subject_id": rating.subject_id},
        text={"reply": body})
    audit_service.record(session, actor, "rating.rectification.reply", target_type="rectification",
                         target_id=rect.id, area_code=rating.area_code,
                         detail={"rating_id": rating.id, "department_id": rect.department_id})
    return _read(session, rect, rating, workdays_service.today())


def close(session: Session, actor: Actor, rectification_id: str, note: str = "") -> RectificationRead:
    """A supervisor (``rating.supervise`` over the rating's area) closes the rectification with a
    note; refuses one already closed."""
    if not actor.scopes("rating.supervise"):
        raise PermissionDenied(permission="rating.supervise", target=f"rectification:{rectification_id}")
    rect, rating = _load(session, rectification_id)
    actor.require("rating.supervise", area_code=rating.area_code, department_id=rect.department_id,
                  target=f"rectification:{rect.id}")
    if rect.status == "closed":
        raise errors.RectificationClosed()
    rect.status, rect.supervisor_note = "closed", (note or "").strip() or None
    rect.closed_by, rect.closed_at = actor.user_id, utcnow()
    session.flush()
    audit_service.record(session, actor, "rating.rectification.close", target_type="rectification",
                         target_id=rect.id, area_code=rating.area_code,
                         detail={"rating_id": rating.id, "department_id": rect.department_id,
                                 "was_replied": rect.reply is not None})
    return _read(session, rect, rating, workdays_service.today())


def _start_of(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day is not None else None


def statistics(session: Session, actor: Actor, *, by: str, area_code: str | None = None,
               since: date | None = None, until: date | None = None) -> list[StatRow]:
    """Count, average and the share of each score per service, department or channel, within the
    actor's ``rating.stats`` scopes (and ``area_code`` when given); ``until`` is inclusive.
    Refuses an unknown grouping and an actor without ``rating.stats`` there."""
    if by not in repository.GROUP_COLUMNS:
        raise errors.InvalidGrouping(by=by)
    if area_code:
        actor.require("rating.stats", area_code=area_code, target="ratings")
    scopes = actor.scopes("rating.stats")
    if not scopes:
        raise PermissionDenied(permission="rating.stats", target="ratings")
    end = _start_of(date.fromordinal(until.toordinal() + 1)) if until is not None else None
    rows = repository.statistics(session, by, scopes, area_code=area_code or None, since=_start_of(since), until=end)
    out = []
    for row in rows:
        n = int(row.n)
        counts = {k: int(getattr(row, f"s{k}") or 0) for k in range(1, 6)}
        out.append(StatRow(key=str(row.key), count=n, average=round(int(row.total) / n, 2),
                           shares={k: round(c / n, 4) for k, c in counts.items()},
                           bad_share=round((counts[1] + counts[2]) / n, 4)))
    return out
