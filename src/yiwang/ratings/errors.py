"""Errors of the ratings domain, each with a stable code."""

from __future__ import annotations

from yiwang.core.errors import ConflictError, NotFoundError, ValidationFailed


class AlreadyRated(ConflictError):
    code = "already_rated"
    message = "This has already been rated."


class InvalidScore(ValidationFailed):
    code = "invalid_score"
    message = "The score must be a whole number from 1 to 5."


class InvalidChannel(ValidationFailed):
    code = "invalid_channel"
    message = "The channel {channel} is not one of online, hall, app, hotline."


class CommentTooLong(ValidationFailed):
    code = "comment_too_long"
    message = "The comment may be at most {limit} characters."


class InvalidGrouping(ValidationFailed):
    code = "invalid_grouping"
    message = "Statistics are grouped by service, department or channel, not {by}."


class RectificationNotFound(NotFoundError):
    code = "rectification_not_found"
    message = "There is no such rectification."


class RectificationClosed(ConflictError):
    code = "rectification_closed"
    message = "This rectification is already closed."


class ReplyRequired(ValidationFailed):
    code = "reply_required"
    message = "Please write a reply."
