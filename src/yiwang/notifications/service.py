"""Use cases of the notifications domain: notify a user, read one's own inbox, and the delivery
bookkeeping of the ``notifications.deliver`` job.

Any domain may call :func:`notify` inside its own transaction: the inbox row is written there and
then, and e-mail/SMS are queued for the worker only once that transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from yiwang.core import rows
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import AuthenticationRequired
from yiwang.core.fieldcrypt import FieldCipher
from yiwang.core.ids import new_id
from yiwang.core.jobs import enqueue_after_commit
from yiwang.core.masking import mask
from yiwang.notifications import errors, repository
from yiwang.notifications import templates as tpl
from yiwang.notifications.models import Delivery, Notification
from yiwang.notifications.schemas import DeliveryRead, InboxPage, NotificationRead

log = logging.getLogger("yiwang.notifications")

CHANNELS = ("inbox", "email", "sms")
PAGE_SIZE = 50
MAX_ATTEMPTS = 4
"""A delivery is tried this many times (the job's first run and its retries) before it fails."""


def _aad(delivery_id: str) -> str:
    return f"deliveries.address:{delivery_id}"


def mask_email(address: str) -> str:
    """``zhang@example.com`` → ``z***@example.com``: enough to recognise, not to write to."""
    local, _, domain = address.strip().partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_mobile(number: str) -> str:
    """Only the last four digits stay (``13812345678`` → ``*******5678``)."""
    return mask(number.strip(), "last4") or ""


def notify(
    session: Session,
    user_id: str,
    template: str,
    params: dict[str, Any],
    *,
    channels: Iterable[str] = ("inbox",),
    email: str | None = None,
    mobile: str | None = None,
    locale: str | None = None,
    text: dict[str, Any] | None = None,
) -> NotificationRead:
    """Write ``template`` to ``user_id``'s inbox and queue e-mail/SMS after commit; refuses an
    unknown template or channel and a channel without an address.

    ``params`` (ids and non-personal facts) are kept with the message; ``text`` values fill
    placeholders of the rendered text only (e.g. a department's reply) and are not kept apart
    from it. Addresses are kept encrypted until sent, and masked in the log."""
    chosen = tuple(dict.fromkeys(channels))
    for channel in chosen:
        if channel not in CHANNELS:
            raise errors.UnknownChannel(channel=channel)
    addresses = {"email": email, "sms": mobile}
    for channel in chosen:
        if channel != "inbox" and not (addresses[channel] or "").strip():
            raise errors.RecipientMissing(channel=channel)
    row = Notification(**_inbox_values(user_id, template, params, locale=locale, text=text))
    repository.add(session, row)
    flushed = False
    for channel in chosen:
        if channel == "inbox":
            continue
        if not flushed:
            session.flush()  # the message row before its deliveries (their foreign key)
            flushed = True
        address = (addresses[channel] or "").strip()
        delivery_id = new_id()
        masked = mask_email(address) if channel == "email" else mask_mobile(address)
        cipher = FieldCipher.for_session(session)
        repository.add(session, Delivery(
            id=delivery_id, notification_id=row.id, channel=channel, recipient_masked=masked,
            address_enc=cipher.encrypt(address, _aad(delivery_id)), status="queued", attempts=0))
        session.flush()
        enqueue_after_commit(session, "notifications.deliver", delivery_id=delivery_id)
    log.info("notification written", extra={"notification_id": row.id, "template": template,
                                             "channels": list(chosen)})
    return NotificationRead.model_validate(row)


def prepare_inbox(dialect: Dialect, user_id: str, template: str, params: dict[str, Any], *,
                  locale: str | None = None, text: dict[str, Any] | None = None) -> rows.Step:
    """The inbox message :func:`notify` would write, checked and rendered now, as a plain INSERT
    (``core.rows``) for a hot path that prepares its rows before the writer's turn."""
    return rows.insert(dialect, Notification.__table__,
                       [_inbox_values(user_id, template, params, locale=locale, text=text)])


def _inbox_values(user_id: str, template: str, params: dict[str, Any], *, locale: str | None = None,
                  text: dict[str, Any] | None = None) -> dict[str, Any]:
    if template not in tpl.TEMPLATES:
        raise errors.UnknownTemplate(template=template)
    title, body = tpl.render(template, {**params, **(text or {})}, locale)
    return {"id": new_id(), "user_id": user_id, "template": template, "params": dict(params), "title": title,
            "body": body, "created_at": utcnow()}


def _own(actor: Actor) -> str:
    if not actor.is_authenticated or actor.user_id is None:
        raise AuthenticationRequired()
    return actor.user_id


def inbox(session: Session, actor: Actor, unread_only: bool = False, cursor: str | None = None) -> InboxPage:
    """The actor's own messages, newest first, a page at a time; nobody reads another's inbox."""
    user_id = _own(actor)
    after = repository.own(session, user_id, cursor) if cursor else None
    if cursor and after is None:
        raise errors.InvalidCursor()
    rows = repository.inbox(session, user_id, unread_only=unread_only, after=after, limit=PAGE_SIZE + 1)
    items = [NotificationRead.model_validate(r) for r in rows[:PAGE_SIZE]]
    return InboxPage(items=items, next_cursor=items[-1].id if len(rows) > PAGE_SIZE else None)


def mark_read(session: Session, actor: Actor, notification_id: str) -> NotificationRead:
    """Mark one of the actor's own messages read; another user's message is ``notification_not_found``."""
    row = repository.own(session, _own(actor), notification_id)
    if row is None:
        raise errors.NotificationNotFound()
    repository.mark_read(session, row)
    session.flush()
    return NotificationRead.model_validate(row)


def unread_count(session: Session, actor: Actor) -> int:
    """How many of the actor's own messages are unread."""
    return repository.unread_count(session, _own(actor))


def deliveries(session: Session, notification_id: str) -> list[DeliveryRead]:
    """The delivery log of one notification (recipients masked); for the system and tests."""
    return [DeliveryRead.model_validate(d) for d in repository.deliveries_of(session, notification_id)]


# -- the job's bookkeeping (called by tasks.deliver, each in its own short transaction) ----------


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What the worker needs to send one delivery; lives in memory only."""

    delivery_id: str
    channel: str
    address: str
    template: str
    params: dict[str, Any]
    title: str
    body: str


def outgoing(session: Session, delivery_id: str) -> Outgoing | None:
    """The message to send for a queued delivery, or None when there is nothing to send (sent,
    failed, or the row is gone)."""
    d = repository.delivery(session, delivery_id)
    if d is None or d.status != "queued" or not d.address_enc:
        return None
    n = repository.notification(session, d.notification_id)
    if n is None:
        return None
    address = FieldCipher.for_session(session).decrypt(d.address_enc, _aad(d.id))
    return Outgoing(d.id, d.channel, address, n.template, dict(n.params), n.title, n.body)


def record_outcome(session: Session, delivery_id: str, *, error: str | None, final: bool = False) -> DeliveryRead | None:
    """Count one attempt: sent (``error`` None) or failed with a reason free of personal data.

    The encrypted address is wiped once the message is sent, or once it has failed for good (a
    ``final`` reason such as ``channel_not_configured``, or the last attempt)."""
    d = repository.delivery(session, delivery_id)
    if d is None:
        return None
    d.attempts += 1
    if error is None:
        d.status, d.sent_at, d.last_error, d.address_enc = "sent", utcnow(), None, None
    else:
        d.last_error = error[:200]
        if final or d.attempts >= MAX_ATTEMPTS:
            d.status, d.address_enc = "failed", None
    session.flush()
    log.info("delivery attempt", extra={"delivery_id": d.id, "status": d.status, "attempts": d.attempts})
    return DeliveryRead.model_validate(d)
