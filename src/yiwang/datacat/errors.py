"""Errors of the data catalogue, each with a stable code (messages are msgids, see datacat.po)."""

from __future__ import annotations

from typing import Any

from yiwang.core.errors import ConflictError, NotFoundError, ValidationFailed


class ResourceNotFound(NotFoundError):
    code = "data_resource_not_found"
    message = "There is no data resource {ref}."


class DistributionNotFound(NotFoundError):
    code = "distribution_not_found"
    message = "There is no table or file {ref} in this data resource."


class DemandNotFound(NotFoundError):
    code = "data_demand_not_found"
    message = "There is no data demand {ref}."


class AccessRequestNotFound(NotFoundError):
    code = "access_request_not_found"
    message = "There is no access request {ref}."


class ResourceExists(ConflictError):
    code = "data_resource_exists"
    message = "A data resource with the {what} {value} exists already."


class DepartmentUnknown(ValidationFailed):
    code = "department_unknown"
    message = "There is no department {ref}."


class TopicUnknown(ValidationFailed):
    code = "topic_unknown"
    message = "{topic} is not a topic of the catalogue; choose one of: {topics}."


class FieldsInvalid(ValidationFailed):
    code = "data_fields_invalid"
    message = "The fields cannot be saved: field {name} appears twice."


class NotOpenable(ConflictError):
    code = "data_resource_not_openable"
    message = "This resource's opening attribute is 不予开放 (not to be opened); change it before opening."


class NothingToOpen(ConflictError):
    code = "data_resource_nothing_to_open"
    message = "This resource has no uploaded table or file yet; upload its data before opening it."


class FormatUnsupported(ValidationFailed):
    code = "data_format_unsupported"
    message = "Upload a table as CSV, XLSX or JSON, or a document as PDF."


class KindMismatch(ValidationFailed):
    code = "distribution_kind_mismatch"
    message = "A new version must be of the same kind: a table replaces a table, a PDF a PDF."


class StepsInvalid(ValidationFailed):
    code = "deidentification_steps_invalid"
    message = "The de-identification steps cannot be saved: {reason}"

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params: dict[str, Any] = dict(self.params)
        params["reason"] = translate(str(params.get("reason", "")), locale)
        return translate(self.msgid, locale, **params)


class GateRefusedChange(ConflictError):
    """A metadata change that would make open data fail the gate (e.g. a field graded up)."""

    code = "gate_refused_change"
    message = "This change would leave open data that the gate refuses: {report}"


class AccessNotNeeded(ConflictError):
    code = "access_not_needed"
    message = "This resource is open to everyone or not open at all; there is nothing to request."


class AccessAlreadyDecided(ConflictError):
    code = "access_request_decided"
    message = "This access request has been decided already."


class DemandAlreadyAnswered(ConflictError):
    code = "data_demand_answered"
    message = "This data demand has been answered already."
