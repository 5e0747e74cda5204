"""Errors of the areas domain, each with a stable code."""

from __future__ import annotations

from typing import Any, ClassVar

from yiwang.core.errors import AppError, ConflictError, NotFoundError, ValidationFailed


class _WithReason(AppError):
    """An error some of whose parameters (``reason``, ``level`` …) are msgids themselves,
    translated with the message."""

    translated: ClassVar[tuple[str, ...]] = ("reason", "level")

    def render(self, locale: str | None = None) -> str:
        from yiwang.core.i18n import translate

        params = dict(self.params)
        for key in self.translated:
            if isinstance(params.get(key), str):
                params[key] = translate(params[key], locale, **self.params)
        return translate(self.msgid, locale, **params)


class AreaNotFound(NotFoundError):
    code = "area_not_found"
    message = "There is no area with code {code}."


class AreaExists(ConflictError):
    code = "area_exists"
    message = "An area with code {code} already exists."


class AreaLevelInvalid(AppError):
    code = "area_level_invalid"
    status = 422
    message = "The level {level} is not one of city, district, street, community, grid."


class AreaCodeInvalid(_WithReason):
    translated = ("level", "digits")

    code = "area_code_invalid"
    status = 422
    message = "The code {code} is not valid for a {level}: it must be {digits} digits."


class AreaNameInvalid(AppError):
    code = "area_name_invalid"
    status = 422
    message = "The name must have 1 to 100 characters."


class AreaParentNotFound(AppError):
    code = "area_parent_not_found"
    status = 422
    message = "The parent area {parent_code} does not exist."


class AreaParentInvalid(_WithReason):
    code = "area_parent_invalid"
    status = 422
    message = "The parent {parent_code} cannot hold the {level} {code}: {reason}."


class AreaBoundaryInvalid(_WithReason):
    code = "area_boundary_invalid"
    status = 422
    message = "The boundary is not a valid GeoJSON polygon in WGS-84: {reason}."


class AreaOutsideParent(AppError):
    code = "area_outside_parent"
    status = 422
    message = "The boundary of {code} lies outside its parent {parent_code}."


class CityExists(ConflictError):
    code = "city_exists"
    message = "The city {code} already exists; the demo geography is loaded only once."


class DepartmentNotFound(NotFoundError):
    code = "department_not_found"
    message = "There is no department {ref}."


class DepartmentExists(ConflictError):
    code = "department_exists"
    message = "A department with code {code} already exists."


class DepartmentKindInvalid(AppError):
    code = "department_kind_invalid"
    status = 422
    message = "The department kind {kind} is not known."


class DepartmentCodeInvalid(AppError):
    code = "department_code_invalid"
    status = 422
    message = "The department code {code} is not valid: use 2 to 40 letters, digits or hyphens."


class DepartmentNameInvalid(AppError):
    code = "department_name_invalid"
    status = 422
    message = "The name must have 1 to 100 characters."


class DepartmentParentInvalid(_WithReason):
    code = "department_parent_invalid"
    status = 422
    message = "The parent department {parent} is not valid here: {reason}."


class CrsInvalid(AppError):
    code = "crs_invalid"
    status = 422
    message = "The coordinate system {crs} is not supported: use wgs84 or gcj02."


class ImportFormatInvalid(_WithReason):
    code = "import_format_invalid"
    status = 422
    message = "The file cannot be read as {fmt}: {reason}."


class ImportRefused(ValidationFailed):
    """Some rows are bad and ``skip_bad_rows`` was not asked for: nothing was imported."""

    code = "import_refused"
    status = 422
    message = "{count} rows are not valid; nothing was imported."

    def __init__(self, errors: list[dict[str, Any]], **params: Any) -> None:
        super().__init__(None, errors=errors, count=len(errors), **params)
