"""Forms: a JSON Schema (draft 2020-12) with ``x-layout`` hints.

One schema serves three purposes: it is rendered into HTML fields (``templates/catalog/_form.html``,
fed by :func:`layout`), it validates what comes back on the server (:func:`validate_form`, with
messages per field in the reader's language), and the forms of a bundle's items merge into one,
each field asked once (:func:`merge_forms`).

``x-layout``::

    {"groups": [{"title": "申请人", "fields": ["applicant_name", "id_number"]}],
     "order": [...],                       # used when there are no groups
     "widgets": {"address": "textarea"},   # text textarea select date id_number uscc mobile area number checkbox
     "hints": {"id_number": "18 位"},
     "registry": {"applicant_name": "person.name"}}   # filled from a registry record: read-only

Field formats beyond the standard ones: ``id_number`` (居民身份证号码), ``uscc`` (统一社会信用代码),
``mobile`` (手机号码).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from yiwang.catalog import errors
from yiwang.catalog.schemas import FieldError
from yiwang.core import validators
from yiwang.core.i18n import translate

WIDGETS = ("text", "textarea", "select", "date", "id_number", "uscc", "mobile", "area", "number", "checkbox")
LAYOUT_KEY = "x-layout"

OUR_FORMATS: dict[str, Callable[[str], bool]] = {
    "id_number": validators.is_valid_resident_id, "uscc": validators.is_valid_uscc, "mobile": validators.is_valid_mobile,
}
"""The field formats beyond the standard ones, each with its check of a text."""

FORMAT_CHECKER = FormatChecker()


def _on_text(check: Callable[[str], bool]) -> Callable[[object], bool]:
    """A format check as JSON Schema applies it: a value that is not text passes (``type`` judges it)."""
    return lambda value: not isinstance(value, str) or check(value)


for _name, _check in OUR_FORMATS.items():
    FORMAT_CHECKER.checks(_name)(_on_text(_check))


# -- checking a schema --------------------------------------------------------------------------------

def check_schema(schema: Any) -> None:
    """Refuse a form that is not a JSON Schema object form with well-formed layout hints."""
    if not isinstance(schema, dict):
        raise errors.FormSchemaInvalid(reason="the form must be an object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise errors.FormSchemaInvalid(reason=f"{path}: {exc.message}" if path else exc.message) from None
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        raise errors.FormSchemaInvalid(reason="the form must be of type object with properties")
    names = set(schema["properties"])
    lay = schema.get(LAYOUT_KEY) or {}
    if not isinstance(lay, dict):
        raise errors.FormSchemaInvalid(reason="x-layout must be an object")
    mentioned: list[str] = list(lay.get("order") or [])
    for g in lay.get("groups") or []:
        if not isinstance(g, dict) or not isinstance(g.get("fields"), list):
            raise errors.FormSchemaInvalid(reason="each x-layout group needs a list of fields")
        mentioned += g["fields"]
    for key in ("widgets", "hints", "registry"):
        part = lay.get(key) or {}
        if not isinstance(part, dict):
            raise errors.FormSchemaInvalid(reason=f"x-layout {key} must be an object")
        mentioned += list(part)
    for w in (lay.get("widgets") or {}).values():
        if w not in WIDGETS:
            raise errors.FormSchemaInvalid(reason=f"unknown widget {w}")
    for name in mentioned:
        if name not in names:
            raise errors.FormLayoutInvalid(name=name)


# -- validating answers ----------------------------------------------------------------------------------

_FORMAT_MESSAGES = {
    "id_number": "{label} is not a valid resident ID number.",
    "uscc": "{label} is not a valid unified social credit code.",
    "mobile": "{label} is not a valid mobile number.",
    "date": "{label} is not a valid date.",
    "email": "{label} is not a valid email address.",
}
_MESSAGES = {
    "required": "Please fill in {label}.",
    "pattern": "{label} is not in the expected format.",
    "enum": "{label} must be one of the listed options.",
    "const": "{label} must be one of the listed options.",
    "minLength": "{label} must be at least {limit} characters.",
    "maxLength": "{label} must be at most {limit} characters.",
    "minimum": "{label} must be at least {limit}.",
    "maximum": "{label} must be at most {limit}.",
    "exclusiveMinimum": "{label} must be more than {limit}.",
    "exclusiveMaximum": "{label} must be less than {limit}.",
    "minItems": "Choose at least {limit} for {label}.",
    "maxItems": "Choose at most {limit} for {label}.",
}
_CODES = {"minLength": "min_length", "maxLength": "max_length", "exclusiveMinimum": "minimum",
          "exclusiveMaximum": "maximum", "minItems": "min_items", "maxItems": "max_items", "const": "enum"}


def _label(schema: dict[str, Any], path: list[str]) -> str:
    node: Any = schema
    for p in path:
        node = (node.get("properties") or {}).get(p, {}) if isinstance(node, dict) else {}
    return str(node.get("title") or (path[-1] if path else "")) if isinstance(node, dict) else path[-1]


_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator, Any]] = {}

# jsonschema-rs judges a form in a few microseconds where jsonschema takes a tenth of a millisecond
# (filing's busiest step after the web stack). It only ever says "valid" for us: when it says
# anything else, jsonschema looks again, and its verdict and its errors are the ones given. So it
# is used only where the two read a schema alike — formats whose checks are the same (ours, and
# dates), patterns without the escapes and groups that Rust's and Python's regexes read differently.
_SAME_FORMATS = frozenset({*OUR_FORMATS, "date"})
_REGEX_DIFFERENCES = ("\\w", "\\W", "\\b", "\\B", "(?")


def _judged_alike(node: Any) -> bool:
    """Whether jsonschema-rs reads every format and pattern of ``node`` as jsonschema does."""
    if isinstance(node, list):
        return all(_judged_alike(n) for n in node)
    if not isinstance(node, dict):
        return True
    for key, value in node.items():
        if key == "format" and isinstance(value, str) and value not in _SAME_FORMATS:
            return False
        if key == "pattern" and isinstance(value, str) and any(d in value for d in _REGEX_DIFFERENCES):
            return False
        if key == "patternProperties" and isinstance(value, dict) and any(
                any(d in k for d in _REGEX_DIFFERENCES) for k in value):
            return False
        if key != LAYOUT_KEY and not _judged_alike(value):
            return False
    return True


def _fast_validator(schema: dict[str, Any]) -> Any:
    """jsonschema-rs's validator of ``schema`` (draft 2020-12, formats checked, nothing fetched),
    or None where it would not judge as jsonschema does."""
    if not _judged_alike(schema):
        return None
    try:
        return jsonschema_rs.Draft202012Validator(
            schema, formats=OUR_FORMATS, validate_formats=True, ignore_unknown_formats=False, offline=True)
    except Exception:  # noqa: BLE001 - a schema it cannot take is judged by jsonschema alone
        return None


def _validator(schema: dict[str, Any]) -> tuple[Draft202012Validator, Any]:
    """The validators of ``schema`` (jsonschema's, and jsonschema-rs's or None), made once per
    schema object (a memoised item version's form is the same object filing after filing)."""
    found = _VALIDATORS.get(id(schema))
    if found is not None and found[0] is schema:
        return found[1], found[2]
    validator = Draft202012Validator(schema, format_checker=FORMAT_CHECKER)
    fast = _fast_validator(schema)
    if len(_VALIDATORS) > 1024:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator, fast)
    return validator, fast


def validate_form(schema: dict[str, Any], data: Any, locale: str | None = None) -> list[FieldError]:
    """Every problem of ``data`` against ``schema``, one per field (the first found), in field order,
    with a message in ``locale`` (the request's, Simplified Chinese by default)."""
    validator, fast = _validator(schema)
    if fast is not None and fast.is_valid(data):
        return []
    if validator.is_valid(data):
        return []
    found: dict[str, FieldError] = {}
    for err in validator.iter_errors(data):
        path = [str(p) for p in err.absolute_path]
        if err.validator == "required":
            missing = [m for m in err.validator_value if not isinstance(err.instance, dict) or m not in err.instance]
            sub_schema = err.schema if isinstance(err.schema, dict) else {}
            for m in missing:
                fld = ".".join([*path, m])
                label = str(((sub_schema.get("properties") or {}).get(m) or {}).get("title") or m)
                found.setdefault(fld, FieldError(field=fld, code="required",
                                                 message=translate(_MESSAGES["required"], locale, label=label)))
            continue
        fld = ".".join(path) or "$"
        label = _label(schema, path) if path else translate("The form", locale)
        if err.validator == "format":
            fmt = str(err.validator_value)
            code, msgid, params = fmt, _FORMAT_MESSAGES.get(fmt, "{label} is not valid."), {}
        elif err.validator == "type":
            wanted = err.validator_value
            numeric = wanted in ("integer", "number")
            code = "type"
            msgid = ("{label} must be a whole number." if wanted == "integer" else
                     "{label} must be a number." if numeric else "{label} has the wrong kind of value.")
            params = {}
        elif err.validator in _MESSAGES:
            code = _CODES.get(str(err.validator), str(err.validator))
            msgid, params = _MESSAGES[str(err.validator)], {"limit": err.validator_value}
        else:
            code, msgid, params = "invalid", "{label} is not valid.", {}
        found.setdefault(fld, FieldError(field=fld, code=code, message=translate(msgid, locale, label=label, **params)))
    order = {name: i for i, name in enumerate(field_order(schema))}
    return sorted(found.values(), key=lambda e: (order.get(e.field.split(".")[0], len(order)), e.field))


def coerce_form(schema: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Answers from an HTML form (all strings) as the schema's types; empty answers are left out, so
    that ``required`` reports them. A value that does not convert is kept as text for the validator."""
    out: dict[str, Any] = {}
    props = schema.get("properties") or {}
    for name, spec in props.items():
        if name not in raw:
            if (spec or {}).get("type") == "boolean":
                out[name] = False
            continue
        value = raw[name]
        t = (spec or {}).get("type")
        if t == "boolean":
            out[name] = value in (True, "on", "true", "1", "yes")
            continue
        if isinstance(value, str):
            value = value.strip()
            if value == "":
                continue
            try:
                if t == "integer":
                    value = int(value)
                elif t == "number":
                    value = float(value)
            except ValueError:
                pass
        out[name] = value
    return out


# -- layout for rendering --------------------------------------------------------------------------------

def field_order(schema: dict[str, Any]) -> list[str]:
    """The fields in the order they are asked: the layout's groups (or order), then the rest."""
    props = list((schema.get("properties") or {}).keys())
    lay = schema.get(LAYOUT_KEY) or {}
    seen: list[str] = []
    for g in lay.get("groups") or []:
        seen += [f for f in g.get("fields", []) if f in props and f not in seen]
    seen += [f for f in lay.get("order") or [] if f in props and f not in seen]
    return seen + [f for f in props if f not in seen]


@dataclass
class Field:
    name: str
    label: str
    widget: str
    required: bool
    hint: str = ""
    value: Any = None
    error: str | None = None
    readonly: bool = False
    options: list[tuple[str, str]] = field(default_factory=list)
    maxlength: int | None = None
    pattern: str | None = None
    registry: str | None = None


@dataclass
class Group:
    title: str
    fields: list[Field]


def _widget(spec: dict[str, Any], chosen: str | None) -> str:
    if chosen:
        return chosen
    if "enum" in spec:
        return "select"
    fmt = spec.get("format")
    if fmt in ("date", "id_number", "uscc", "mobile"):
        return str(fmt)
    t = spec.get("type")
    if t in ("integer", "number"):
        return "number"
    if t == "boolean":
        return "checkbox"
    if (spec.get("maxLength") or 0) > 200:
        return "textarea"
    return "text"


def layout(
    schema: dict[str, Any], values: dict[str, Any] | None = None, field_errors: list[FieldError] | None = None,
    readonly: set[str] | frozenset[str] = frozenset(),
) -> list[Group]:
    """The groups and fields to render: label, widget, hint, required mark, current value, error,
    and ``readonly`` for fields in ``readonly`` (filled from a registry record)."""
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    lay = schema.get(LAYOUT_KEY) or {}
    widgets, hints, registry = lay.get("widgets") or {}, lay.get("hints") or {}, lay.get("registry") or {}
    errs = {e.field: e.message for e in field_errors or []}
    values = values or {}

    def make(name: str) -> Field:
        spec = props.get(name) or {}
        labels = spec.get("x-enum-labels") or []
        options = [(str(v), str(labels[i]) if i < len(labels) else str(v)) for i, v in enumerate(spec.get("enum") or [])]
        return Field(
            name=name, label=str(spec.get("title") or name), widget=_widget(spec, widgets.get(name)),
            required=name in required, hint=str(hints.get(name) or spec.get("description") or ""),
            value=values.get(name), error=errs.get(name), readonly=name in readonly, options=options,
            maxlength=spec.get("maxLength"), pattern=spec.get("pattern"), registry=registry.get(name),
        )

    groups: list[Group] = []
    placed: set[str] = set()
    for g in lay.get("groups") or []:
        names = [f for f in g.get("fields", []) if f in props and f not in placed]
        placed.update(names)
        if names:
            groups.append(Group(title=str(g.get("title") or ""), fields=[make(n) for n in names]))
    rest = [n for n in field_order(schema) if n not in placed]
    if rest:
        groups.append(Group(title="", fields=[make(n) for n in rest]))
    return groups


# -- merging a bundle's forms ------------------------------------------------------------------------------

_COSMETIC = ("title", "description", "x-enum-labels")


def _essence(spec: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in spec.items() if k not in _COSMETIC}, sort_keys=True, ensure_ascii=False)


def merge_forms(forms: list[tuple[str, str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """One form from several ``(item code, item name, form)``: each field asked once. Fields with the
    same name must mean the same (same schema apart from title/description), else ``catalog_form_conflict``.
    Returns the merged schema and, per field, the item codes that ask for it."""
    props: dict[str, Any] = {}
    owner: dict[str, str] = {}
    sources: dict[str, list[str]] = {}
    required: list[str] = []
    groups: list[dict[str, Any]] = []
    widgets: dict[str, str] = {}
    hints: dict[str, str] = {}
    registry: dict[str, str] = {}
    for code, name, form in forms:
        lay = form.get(LAYOUT_KEY) or {}
        new_fields: list[str] = []
        for fname, spec in (form.get("properties") or {}).items():
            if fname in props:
                if _essence(props[fname]) != _essence(spec):
                    raise errors.FormConflict(name=fname, first=owner[fname], second=code)
                sources[fname].append(code)
                continue
            props[fname], owner[fname], sources[fname] = spec, code, [code]
            new_fields.append(fname)
        for r in form.get("required") or []:
            if r not in required:
                required.append(r)
        own = set(new_fields)
        for g in lay.get("groups") or []:
            fields = [f for f in g.get("fields", []) if f in own]
            own -= set(fields)
            if fields:
                groups.append({"title": g.get("title") or name, "fields": fields})
        left = [f for f in field_order(form) if f in own]
        if left:
            groups.append({"title": name, "fields": left})
        for src, dst in ((lay.get("widgets"), widgets), (lay.get("hints"), hints), (lay.get("registry"), registry)):
            for k, v in (src or {}).items():
                dst.setdefault(k, v)
    merged: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
        "properties": props, "required": required,
        LAYOUT_KEY: {"groups": groups, "widgets": widgets, "hints": hints, "registry": registry},
    }
    return merged, sources
