"""Worker jobs of the notifications domain: deliver one e-mail or SMS."""

from __future__ import annotations

import logging

from yiwang.core.db import Database
from yiwang.core.jobs import job
from yiwang.notifications import service as notifications_service
from yiwang.notifications import sms, smtp
from yiwang.notifications.schemas import DeliveryRead

log = logging.getLogger("yiwang.notifications")

NOT_CONFIGURED = "channel_not_configured"


class DeliveryFailed(Exception):
    """Raised after a failed attempt that will be retried, so the queue schedules the retry."""


def send_delivery(db: Database, delivery_id: str, *, sms_gateway: sms.SmsGateway | None = None) -> DeliveryRead | None:
    """Send one queued delivery and record the outcome; raise :class:`DeliveryFailed` when the
    attempt failed and another is due. The address is read, used and dropped; the send itself
    happens outside any database transaction."""
    with db.transaction(write=False) as session:
        out = notifications_service.outgoing(session, delivery_id)
    if out is None:
        return None
    settings = db.settings
    error: str | None = None
    final = False
    ready = smtp.configured(settings) if out.channel == "email" else (sms_gateway is not None
                                                                      or sms.configured(settings))
    if not ready:
        error, final = NOT_CONFIGURED, True
    else:
        try:
            if out.channel == "email":
                smtp.send_email(settings, out.address, out.title, out.body)
            else:
                (sms_gateway or sms.gateway_for(settings)).send(out.address, out.template, out.params)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded, then retried
            error = smtp.describe(exc) if out.channel == "email" else sms.describe(exc)
    with db.transaction() as session:
        result = notifications_service.record_outcome(session, delivery_id, error=error, final=final)
    if result is not None and result.status == "queued":
        raise DeliveryFailed(result.last_error)
    return result


@job("notifications.deliver", retries=notifications_service.MAX_ATTEMPTS - 1, retry_delay=60)
def deliver(db: Database, *, delivery_id: str) -> None:
    """Send one e-mail or SMS (``notifications.deliver``)."""
    send_delivery(db, delivery_id)
