"""Errors of the notifications domain, each with a stable code."""

from __future__ import annotations

from yiwang.core.errors import NotFoundError, ValidationFailed


class NotificationNotFound(NotFoundError):
    code = "notification_not_found"
    message = "There is no such notification."


class UnknownTemplate(ValidationFailed):
    code = "unknown_template"
    message = "There is no notification template {template}."


class UnknownChannel(ValidationFailed):
    code = "unknown_channel"
    message = "The channel {channel} is not one of inbox, email, sms."


class RecipientMissing(ValidationFailed):
    code = "recipient_missing"
    message = "The {channel} channel needs an address to send to."


class InvalidCursor(ValidationFailed):
    code = "invalid_cursor"
    message = "The page cursor is not valid."
