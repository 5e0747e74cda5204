"""Errors of the catalogue domain, each with a stable code."""

from __future__ import annotations

from typing import Any

from yiwang.core.errors import AppError, ConflictError, NotFoundError, ValidationFailed


class ItemNotFound(NotFoundError):
    code = "catalog_item_not_found"
    message = "There is no service item with code {code}."


class ItemVersionNotFound(NotFoundError):
    code = "catalog_version_not_found"
    message = "Service item {code} has no version {version}."


class ItemExists(ConflictError):
    code = "catalog_item_exists"
    message = "A service item with code {code} already exists."


class BundleNotFound(NotFoundError):
    code = "catalog_bundle_not_found"
    message = "There is no bundle with code {code}."


class BundleExists(ConflictError):
    code = "catalog_bundle_exists"
    message = "A bundle with code {code} already exists."


class CodeInvalid(AppError):
    code = "catalog_code_invalid"
    status = 422
    message = "The code {code} is not valid: use letters, digits and hyphens (2 to 40)."


class FieldInvalid(AppError):
    code = "catalog_field_invalid"
    status = 422
    message = "The field {field} is missing or not valid."


class KindInvalid(AppError):
    code = "catalog_kind_invalid"
    status = 422
    message = "The kind {kind} is not one of licence, confirmation, benefit, public_service, other."


class LimitsInvalid(AppError):
    code = "catalog_limits_invalid"
    status = 422
    message = "The promised time limit ({promised} working days) may not exceed the legal one ({legal})."


class DepthInvalid(AppError):
    code = "catalog_depth_invalid"
    status = 422
    message = "The online depth must be 1, 2, 3 or 4."


class DepartmentUnknown(AppError):
    code = "catalog_department_not_found"
    status = 422
    message = "There is no department with code {department}."


class AreasInvalid(AppError):
    code = "catalog_areas_invalid"
    status = 422
    message = "The applicable areas must be a non-empty list of area code prefixes."


class MaterialInvalid(AppError):
    code = "catalog_material_invalid"
    status = 422
    message = "Material {index} needs a code and a name, and codes must not repeat."


class StandInInvalid(AppError):
    code = "catalog_stand_in_invalid"
    status = 422
    message = "The stand-in of material {material} must be a registry (person or entity) or a known certificate type."


class FormSchemaInvalid(AppError):
    code = "catalog_form_schema_invalid"
    status = 422
    message = "The form is not a valid JSON Schema: {reason}"


class FormLayoutInvalid(AppError):
    code = "catalog_form_layout_invalid"
    status = 422
    message = "The form layout names a field the schema does not have: {name}."


class BundleItemUnknown(AppError):
    code = "catalog_bundle_item_not_found"
    status = 422
    message = "The bundle names a service item that does not exist: {item}."


class FormConflict(AppError):
    code = "catalog_form_conflict"
    status = 422
    message = "The field {name} is defined differently by {first} and {second}."


class ItemInvalid(ValidationFailed):
    """Every problem of one item or bundle, field by field; nothing was saved."""

    code = "catalog_invalid"
    status = 422
    message = "The entry {code} is not valid; nothing was saved."

    def __init__(self, code: str, errors: list[dict[str, Any]]) -> None:
        super().__init__(None, errors=errors, code=code)


class ImportFormatInvalid(AppError):
    code = "catalog_import_unreadable"
    status = 422
    message = "The file could not be read as {fmt}: {reason}"


class ImportRefused(ValidationFailed):
    """Some entries are bad and ``skip_bad`` was not asked for: nothing was imported."""

    code = "catalog_import_refused"
    status = 422
    message = "{count} problems were found; nothing was imported."

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(None, errors=errors, count=len(errors))
