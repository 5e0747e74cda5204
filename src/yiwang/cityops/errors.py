"""Errors of 一网统管, each with a stable code."""

from __future__ import annotations

from typing import Any

from yiwang.core.errors import ConflictError, NotFoundError, ValidationFailed


class EventNotFound(NotFoundError):
    code = "event_not_found"
    message = "There is no event {ref}."


class CategoryUnknown(ValidationFailed):
    code = "category_unknown"
    message = "{code} is not a category of city events; choose one from the category list."


class CategoryRequired(ValidationFailed):
    code = "event_category_required"
    message = "Choose the event's category."


class CategoryExists(ConflictError):
    code = "category_exists"
    message = "The category {code} exists already."


class CategoryInvalid(ValidationFailed):
    code = "category_invalid"
    message = "The category cannot be saved: {reason}"

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params = dict(self.params)
        params["reason"] = translate(str(params.get("reason", "")), locale)
        return translate(self.msgid, locale, **params)


class ChannelInvalid(ValidationFailed):
    code = "event_channel_invalid"
    message = "{channel} is not a channel of city events."


class DescriptionRequired(ValidationFailed):
    code = "event_description_required"
    message = "Please describe the problem (at most {limit} characters)."


class LocationInvalid(ValidationFailed):
    code = "event_location_invalid"
    message = "Give a longitude and a latitude together, as numbers (longitude −180 to 180, latitude −90 to 90)."


class PhotoInvalid(ValidationFailed):
    code = "event_photo_invalid"
    message = "A photo given is not an image you uploaded (at most {limit} photos)."


class PhoneInvalid(ValidationFailed):
    code = "event_phone_invalid"
    message = "The caller's phone number must be 5 to 20 digits."


class AreaUnknown(ValidationFailed):
    code = "event_area_unknown"
    message = "{code} is not an area of this city."


class AreaRequired(ValidationFailed):
    code = "event_area_required"
    message = "Place the event first: give the grid, community, street or district it is in."


class UrgencyInvalid(ValidationFailed):
    code = "event_urgency_invalid"
    message = "Urgency must be normal, urgent or critical, not {urgency}."


class DeadlineInvalid(ValidationFailed):
    code = "event_deadline_invalid"
    message = "A deadline is a number of working hours or days such as 8h or 3d, not {value}."


class DepartmentUnknown(ValidationFailed):
    code = "event_department_unknown"
    message = "There is no department {ref}."


class ReasonRequired(ValidationFailed):
    code = "event_reason_required"
    message = "Please give a reason (at most {limit} characters)."


class BulkInvalid(ValidationFailed):
    code = "event_bulk_invalid"
    message = "Choose 1 to {limit} different events to dispatch at once."


class BulkRefused(ValidationFailed):
    code = "event_bulk_refused"
    message = "None of the events was dispatched: {count} of them cannot be (see errors)."

    def __init__(self, message: str | None = None, /, errors: list[dict[str, Any]] | None = None, **params: Any):
        super().__init__(message, errors=errors, **params)


class ScoreInvalid(ValidationFailed):
    code = "event_score_invalid"
    message = "A rating is a whole number from 1 to 5."


class _StateWords:
    """Renders the ``status`` and ``action`` params as words of the reader's language too."""

    params: dict[str, Any]
    msgid: str

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        words = {k: translate(f"event.{k}:{v}", locale).split(":", 1)[-1] if k in ("status", "action") else v
                 for k, v in self.params.items()}
        return translate(self.msgid, locale, **words)


class EventStatusConflict(_StateWords, ConflictError):
    code = "event_status_conflict"
    message = "The event is {status}: it cannot be {action} now."


class NotAssignee(ConflictError):
    code = "event_not_assignee"
    message = "This event is assigned to another team or grid worker."


class NotReporter(ConflictError):
    code = "event_not_reporter"
    message = "Only someone who reported this event can rate or reopen it."


class AlreadyRated(ConflictError):
    code = "event_already_rated"
    message = "This event has been rated already."


class ReopenExpired(ConflictError):
    code = "event_reopen_expired"
    message = "An event can be reopened within {days} days of its closing; this one closed on {closed_on}."


class IncidentNotFound(NotFoundError):
    code = "incident_not_found"
    message = "There is no emergency incident {ref}."


class IncidentInvalid(ValidationFailed):
    code = "incident_invalid"
    message = "An emergency incident needs a name, an area, at least one category and a department."


class IncidentClosed(ConflictError):
    code = "incident_closed"
    message = "The emergency incident has been stood down already."


class RuleInvalid(ValidationFailed):
    code = "routing_rule_invalid"
    message = "A routing rule names a category, an area and a department (a team or grid worker is optional)."


class RuleUserInvalid(ValidationFailed):
    code = "routing_rule_user_invalid"
    message = "The grid worker must be an active account that handles events in the rule's area."


class ClassifierUnavailable(ValidationFailed):
    code = "classifier_unavailable"
    message = "The classifier cannot be trained: {reason}"

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params = dict(self.params)
        inner = params.pop("inner", {}) or {}
        params["reason"] = translate(str(params.get("reason", "")), locale, **inner)
        return translate(self.msgid, locale, **params)


class RuleNotFound(NotFoundError):
    code = "routing_rule_not_found"
    message = "There is no routing rule {ref}."


class RuleTargetOutside(ValidationFailed):
    code = "routing_rule_target_outside"
    message = "{department} works outside {area}: choose a department or team of that area or one above it."


class QuestionInvalid(ValidationFailed):
    code = "consultation_invalid"
    message = "Write down the caller's question (at most {limit} characters) and choose the service you answered with."
