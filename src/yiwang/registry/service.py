"""Use cases of the base registries (基础库): persons (人口) and legal entities (法人).

可用不可见: personal fields (a person's name, ID number, phone and address; an entity's legal
representative) are encrypted at rest, each token bound to its row and column; exact look-ups use
blind indexes. Staff see the masked view by default (``registry.*.read`` in the record's area); the
full view needs ``registry.*.read_personal`` there and a stated purpose. Every staff read of a
record — masked or full — and every change is an audit entry in the same transaction. Citizens read
their own person record and enterprise agents their own entity, nobody else's.

Imports validate every row before writing any: a file with a bad row imports nothing unless the
caller asks to skip bad rows, and then the report lists each skipped row — never a silent partial
import. Rows are written with Core executemany in chunks (no ORM objects).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yiwang.areas import service as areas_service
from yiwang.audit import service as audit_service
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import AppError, PermissionDenied
from yiwang.core.fieldcrypt import FieldCipher
from yiwang.core.i18n import translate
from yiwang.core.ids import new_id
from yiwang.core.masking import mask_field
from yiwang.core.validators import validate_mobile, validate_resident_id, validate_uscc
from yiwang.registry import errors, repository
from yiwang.registry.models import LegalEntity, Person
from yiwang.registry.schemas import (
    INDUSTRIES,
    SIZES,
    STATUSES,
    EntityCreate,
    EntityPage,
    EntityRead,
    EntityUpdate,
    ImportReport,
    PersonCreate,
    PersonPage,
    PersonRead,
    PersonUpdate,
    RowError,
)

log = logging.getLogger("yiwang.registry")

PERSON_COLUMNS = ("name", "id_number", "phone", "address", "area_code")
ENTITY_COLUMNS = ("uscc", "name", "legal_representative", "registered_address", "area_code", "industry",
                  "size", "registration_date")
ENTITY_OPTIONAL_COLUMNS = ("status",)

#: Blind-index domains (also the AAD prefix of the fields' tokens).
ID_NUMBER_INDEX = "persons.id_number"
PHONE_INDEX = "persons.phone"

PERSON_ENCRYPTED = ("name", "id_number", "phone", "address")
PERSON_MAX = {"name": 100, "address": 500}
ENTITY_MAX = {"name": 200, "legal_representative": 100, "registered_address": 500}
SIZE_ALIASES = {"微型": "micro", "小型": "small", "中型": "medium", "大型": "large"}

MAX_PAGE = 200
_CURSOR = re.compile(r"^([0-9A-Za-z]{1,15})\.([0-9A-Z]{26})$")

Kind = Literal["persons", "entities"]


def _cipher(session: Session) -> FieldCipher:
    """The field cipher of the settings the session's database runs under."""
    return FieldCipher.for_session(session)


def _aad(table: str, column: str, row_id: str) -> str:
    return f"{table}.{column}:{row_id}"


def _record(session: Session, actor: Actor, action: str, **kwargs: Any) -> None:
    audit_service.record(session, actor, action, **kwargs)


# -- shared checks -----------------------------------------------------------------------------
Problems = list[tuple[str, AppError]]


def _text(values: Mapping[str, Any], name: str, problems: Problems, *, required: bool, max_len: int) -> str | None:
    raw = values.get(name)
    value = "" if raw is None else str(raw).strip()
    if not value:
        if required:
            problems.append((name, errors.MissingField(field=name)))
        return None
    if len(value) > max_len:
        problems.append((name, errors.FieldTooLong(field=name, max=max_len)))
        return None
    return value


def _checked(problems: Problems, name: str, fn: Any, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return fn(value)
    except AppError as exc:
        problems.append((name, exc))
        return None


def _check_person(values: Mapping[str, Any]) -> tuple[dict[str, Any], Problems]:
    """The person's fields normalised, and every problem found (column, error)."""
    problems: Problems = []
    name = _text(values, "name", problems, required=True, max_len=PERSON_MAX["name"])
    id_number = _checked(problems, "id_number", validate_resident_id,
                         _text(values, "id_number", problems, required=True, max_len=32))
    phone = _checked(problems, "phone", validate_mobile, _text(values, "phone", problems, required=False, max_len=32))
    address = _text(values, "address", problems, required=False, max_len=PERSON_MAX["address"])
    area_code = _text(values, "area_code", problems, required=True, max_len=15)
    clean = {"name": name, "id_number": id_number, "phone": phone, "address": address, "area_code": area_code}
    return clean, problems


def _parse_date(value: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError as exc:
        raise errors.InvalidDate() from exc
    if parsed > date.today() or len(value) != 10:
        raise errors.InvalidDate()
    return parsed


def _industry(value: str) -> str:
    v = value.strip().upper()
    if v not in INDUSTRIES:
        raise errors.InvalidIndustry()
    return v


def _size(value: str) -> str:
    v = SIZE_ALIASES.get(value.strip(), value.strip().lower())
    if v not in SIZES:
        raise errors.InvalidSize()
    return v


def _status(value: str) -> str:
    v = value.strip().lower()
    if v not in STATUSES:
        raise errors.InvalidStatus()
    return v


def _check_entity(values: Mapping[str, Any]) -> tuple[dict[str, Any], Problems]:
    problems: Problems = []
    uscc = _checked(problems, "uscc", validate_uscc, _text(values, "uscc", problems, required=True, max_len=32))
    name = _text(values, "name", problems, required=True, max_len=ENTITY_MAX["name"])
    rep = _text(values, "legal_representative", problems, required=True, max_len=ENTITY_MAX["legal_representative"])
    address = _text(values, "registered_address", problems, required=False, max_len=ENTITY_MAX["registered_address"])
    area_code = _text(values, "area_code", problems, required=True, max_len=15)
    industry = _checked(problems, "industry", _industry, _text(values, "industry", problems, required=True, max_len=2))
    size = _checked(problems, "size", _size, _text(values, "size", problems, required=True, max_len=10))
    raw_date = values.get("registration_date")
    if isinstance(raw_date, date):
        reg_date: date | None = raw_date
        if reg_date > date.today():
            problems.append(("registration_date", errors.InvalidDate()))
            reg_date = None
    else:
        reg_date = _checked(problems, "registration_date", _parse_date,
                            _text(values, "registration_date", problems, required=True, max_len=10))
    status = _checked(problems, "status", _status,
                      _text(values, "status", problems, required=False, max_len=16)) or "active"
    clean = {"uscc": uscc, "name": name, "legal_representative": rep, "registered_address": address,
             "area_code": area_code, "industry": industry, "size": size, "registration_date": reg_date,
             "status": status}
    return clean, problems


def _raise_first(problems: Problems) -> None:
    if problems:
        raise problems[0][1]


def _require_area(session: Session, code: str) -> None:
    if code not in areas_service.existing_codes(session, [code]):
        raise errors.UnknownArea(code=code)


# -- persons: rows and views -------------------------------------------------------------------
def _person_row(cipher: FieldCipher, pid: str, clean: Mapping[str, Any]) -> dict[str, Any]:
    """Column values of a person (tokens, blind indexes, derived clear fields) for insert or update."""
    number = clean["id_number"]
    phone = clean.get("phone")
    address = clean.get("address")
    return {
        "id": pid,
        "name_enc": cipher.encrypt(clean["name"], _aad("persons", "name", pid)),
        "id_number_enc": cipher.encrypt(number, _aad("persons", "id_number", pid)),
        "id_number_bidx": cipher.blind_index(number, ID_NUMBER_INDEX),
        "phone_enc": cipher.encrypt(phone, _aad("persons", "phone", pid)) if phone else None,
        "phone_bidx": cipher.blind_index(phone, PHONE_INDEX) if phone else None,
        "address_enc": cipher.encrypt(address, _aad("persons", "address", pid)) if address else None,
        "area_code": clean["area_code"],
        "gender": "M" if int(number[16]) % 2 else "F",
        "birth_year": int(number[6:10]),
    }


def _person_plain(cipher: FieldCipher, p: Person, *, address: bool = True) -> dict[str, str | None]:
    def dec(column: str, token: str | None) -> str | None:
        return None if token is None else cipher.decrypt(token, _aad("persons", column, p.id))

    return {
        "name": dec("name", p.name_enc),
        "id_number": dec("id_number", p.id_number_enc),
        "phone": dec("phone", p.phone_enc),
        "address": dec("address", p.address_enc) if address else None,
    }


def _person_view(p: Person, plain: Mapping[str, str | None], view: Literal["masked", "full", "self"]) -> PersonRead:
    if view == "masked":
        shown = {
            "name": mask_field("person.name", plain["name"]),
            "id_number": mask_field("person.id_number", plain["id_number"]),
            "phone": mask_field("person.phone", plain["phone"]),
            # Redacted without being decrypted; None stays None so "no address on file" still shows.
            "address": None if p.address_enc is None else mask_field("person.address", ""),
        }
    else:
        shown = dict(plain)
    return PersonRead(
        id=p.id, name=shown["name"] or "", id_number=shown["id_number"] or "", phone=shown["phone"],
        address=shown["address"], area_code=p.area_code, gender=p.gender, birth_year=p.birth_year, view=view,
        created_at=p.created_at, updated_at=p.updated_at,
    )


def _get_person_row(session: Session, person_id: str) -> Person:
    p = repository.get_person(session, person_id)
    if p is None:
        raise errors.PersonNotFound()
    return p


def _decide_read(session: Session, actor: Actor, noun: str, row_id: str, area_code: str, own_id: str | None,
                 *, self_kind: str, purpose: str | None, full: bool, via: str) -> Literal["masked", "full", "self"]:
    """Which view of a registry record ``actor`` gets, refused or audited in one place: the holder
    reads their own record; staff read masked with ``registry.<noun>.read``, or in full with
    ``registry.<noun>.read_personal`` and a stated purpose."""
    target = f"{noun}:{row_id}"
    common = {"target_type": noun, "target_id": row_id, "area_code": area_code, "detail": {"via": via}}
    if actor.kind == self_kind:
        if own_id != row_id:
            raise PermissionDenied(permission=f"registry.{noun}.read", area_code=area_code, target=target)
        _record(session, actor, f"registry.{noun}.read_self", **common)
        return "self"
    if full:
        actor.require(f"registry.{noun}.read_personal", area_code=area_code, target=target)
        reason = (purpose or "").strip()
        if not reason:
            raise errors.PurposeRequired()
        _record(session, actor, f"registry.{noun}.read_personal", purpose=reason, **common)
        return "full"
    actor.require(f"registry.{noun}.read", area_code=area_code, target=target)
    _record(session, actor, f"registry.{noun}.read", **common)
    return "masked"


def _read_person(session: Session, actor: Actor, p: Person, *, purpose: str | None, full: bool,
                 via: str) -> PersonRead:
    """The view ``actor`` may have of ``p``, audited."""
    view = _decide_read(session, actor, "person", p.id, p.area_code, actor.person_id, self_kind="citizen",
                        purpose=purpose, full=full, via=via)
    return _person_view(p, _person_plain(_cipher(session), p, address=view != "masked"), view)


# -- persons: use cases ------------------------------------------------------------------------
def create_person(session: Session, actor: Actor, data: PersonCreate | Mapping[str, Any]) -> PersonRead:
    """Register a person (masked view back); refuses without ``registry.person.write`` in the area,
    an invalid ID number or mobile, an unknown area or an ID number already registered."""
    values = data.model_dump() if isinstance(data, PersonCreate) else dict(data)
    clean, problems = _check_person(values)
    _raise_first(problems)
    actor.require("registry.person.write", area_code=clean["area_code"], target="person")
    _require_area(session, clean["area_code"])
    cipher = _cipher(session)
    if repository.person_by_id_number_index(session, cipher.blind_index(clean["id_number"], ID_NUMBER_INDEX)):
        raise errors.PersonExists()
    pid = new_id()
    person = Person(**_person_row(cipher, pid, clean))
    try:
        with session.begin_nested():
            session.add(person)
    except IntegrityError as exc:  # registered concurrently
        raise errors.PersonExists() from exc
    _record(session, actor, "registry.person.create", target_type="person", target_id=pid,
            area_code=person.area_code, detail={"fields": [k for k in PERSON_COLUMNS if clean.get(k)]})
    log.info("person created", extra={"person_id": pid})
    return _person_view(person, clean, "masked")


def update_person(session: Session, actor: Actor, person_id: str,
                  data: PersonUpdate | Mapping[str, Any]) -> PersonRead:
    """Change the given fields of a person (masked view back); refuses without
    ``registry.person.write`` in the person's area (and in the new one when it moves), invalid
    values, or an ID number registered to someone else."""
    p = _get_person_row(session, person_id)
    actor.require("registry.person.write", area_code=p.area_code, target=f"person:{p.id}")
    changes = data.model_dump(exclude_unset=True) if isinstance(data, PersonUpdate) else dict(data)
    changes = {k: v for k, v in changes.items() if k in PERSON_COLUMNS}
    cipher = _cipher(session)
    old: dict[str, Any] = {**_person_plain(cipher, p), "area_code": p.area_code}
    clean, problems = _check_person({**old, **changes})
    _raise_first(problems)
    changed = [k for k in PERSON_COLUMNS if clean[k] != old[k]]
    if not changed:
        return _person_view(p, clean, "masked")
    if "area_code" in changed:
        actor.require("registry.person.write", area_code=clean["area_code"], target=f"person:{p.id}")
        _require_area(session, clean["area_code"])
    row = _person_row(cipher, p.id, clean)
    if "id_number" in changed:
        other = repository.person_by_id_number_index(session, row["id_number_bidx"])
        if other is not None and other.id != p.id:
            raise errors.PersonExists()
    # Only changed fields get new tokens: unchanged tokens (and their key ids) stay as they are.
    columns = {"name": ("name_enc",), "id_number": ("id_number_enc", "id_number_bidx", "gender", "birth_year"),
               "phone": ("phone_enc", "phone_bidx"), "address": ("address_enc",), "area_code": ("area_code",)}
    for name in changed:
        for column in columns[name]:
            setattr(p, column, row[column])
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise errors.PersonExists() from exc
    _record(session, actor, "registry.person.update", target_type="person", target_id=p.id,
            area_code=p.area_code, detail={"fields": changed, "from_area_code": old["area_code"]})
    return _person_view(p, clean, "masked")


def get_person(session: Session, actor: Actor, person_id: str, *, purpose: str | None = None,
               full: bool = False) -> PersonRead:
    """One person: the masked view (``registry.person.read`` in their area), or with ``full`` the
    unmasked one (``registry.person.read_personal`` there and a non-empty purpose); a citizen gets
    their own record unmasked and nobody else's. Every read is audited."""
    return _read_person(session, actor, _get_person_row(session, person_id), purpose=purpose, full=full, via="id")


def get_my_person(session: Session, actor: Actor) -> PersonRead:
    """A citizen's own person record (unmasked, audited as a self-read)."""
    if actor.kind != "citizen":
        raise PermissionDenied(permission="registry.person.self", target="person:me")
    if not actor.person_id:
        raise errors.PersonNotFound()
    return get_person(session, actor, actor.person_id)


def find_person_by_id_number(session: Session, actor: Actor, id_number: str, *, purpose: str | None = None,
                             full: bool = False) -> PersonRead:
    """The person with this ID number, through the blind index (no decryption scan); the same
    views, permissions and audit as :func:`get_person`. Refuses an invalid number."""
    number = validate_resident_id(id_number)
    if actor.kind != "citizen" and not actor.scopes("registry.person.read_personal" if full
                                                      else "registry.person.read"):
        # No look-ups at all for someone who could read no record: not even "exists or not".
        raise PermissionDenied(permission="registry.person.read", target="person")
    p = repository.person_by_id_number_index(session, _cipher(session).blind_index(number, ID_NUMBER_INDEX))
    if p is None and actor.kind == "citizen":
        # A citizen may look up only themselves: "not found" would tell them who else is registered.
        raise PermissionDenied(permission="registry.person.read", target="person")
    if p is None:
        raise errors.PersonNotFound()
    return _read_person(session, actor, p, purpose=purpose, full=full, via="id_number")


def _scope_prefixes(actor: Actor, permission: str, area_code: str | None) -> list[str]:
    """Area prefixes the actor may list, narrowed to ``area_code``; refuses when none is left."""
    prefixes = sorted({s.area_code for s in actor.scopes(permission)})
    if area_code:
        narrowed = set()
        for p in prefixes:
            if area_code.startswith(p):
                narrowed.add(area_code)
            elif p.startswith(area_code):
                narrowed.add(p)
        prefixes = sorted(narrowed)
    if not prefixes:
        raise PermissionDenied(permission=permission, area_code=area_code)
    return prefixes


def _parse_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    m = _CURSOR.match(cursor)
    if not m:
        raise errors.InvalidCursor()
    return m.group(1), m.group(2)


def _clamp(limit: int) -> int:
    return max(1, min(int(limit), MAX_PAGE))


def list_persons(session: Session, actor: Actor, area_code: str | None = None, cursor: str | None = None,
                 limit: int = 50) -> PersonPage:
    """A page of persons (masked) in the actor's ``registry.person.read`` scopes, optionally within
    ``area_code``, ordered by area then id (keyset pages). Audited with the ids shown."""
    prefixes = _scope_prefixes(actor, "registry.person.read", area_code)
    limit = _clamp(limit)
    rows = repository.list_persons(session, prefixes, _parse_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    cipher = _cipher(session)
    items = [_person_view(p, _person_plain(cipher, p, address=False), "masked") for p in rows]
    _record(session, actor, "registry.person.list", target_type="person", area_code=area_code,
            detail={"count": len(items), "ids": [p.id for p in rows]})
    return PersonPage(items=items, next_cursor=f"{rows[-1].area_code}.{rows[-1].id}" if more else None)


# -- legal entities ----------------------------------------------------------------------------
def _entity_row(cipher: FieldCipher, eid: str, clean: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": eid,
        "uscc": clean["uscc"],
        "name": clean["name"],
        "legal_representative_enc": cipher.encrypt(clean["legal_representative"],
                                                   _aad("legal_entities", "legal_representative", eid)),
        "registered_address": clean.get("registered_address"),
        "area_code": clean["area_code"],
        "industry": clean["industry"],
        "size": clean["size"],
        "registration_date": clean["registration_date"],
        "status": clean.get("status") or "active",
    }


def _entity_rep(cipher: FieldCipher, e: LegalEntity) -> str:
    return cipher.decrypt(e.legal_representative_enc, _aad("legal_entities", "legal_representative", e.id))


def _entity_view(e: LegalEntity, rep: str, view: Literal["masked", "full", "self"]) -> EntityRead:
    return EntityRead(
        id=e.id, uscc=e.uscc, name=e.name,
        legal_representative=(mask_field("entity.legal_representative", rep) or "") if view == "masked" else rep,
        registered_address=e.registered_address, area_code=e.area_code, industry=e.industry, size=e.size,
        registration_date=e.registration_date, status=e.status, view=view, created_at=e.created_at,
        updated_at=e.updated_at,
    )


def _get_entity_row(session: Session, entity_id: str) -> LegalEntity:
    e = repository.get_entity(session, entity_id)
    if e is None:
        raise errors.EntityNotFound()
    return e


def _read_entity(session: Session, actor: Actor, e: LegalEntity, *, purpose: str | None, full: bool,
                 via: str) -> EntityRead:
    """The view ``actor`` may have of ``e``, audited."""
    view = _decide_read(session, actor, "entity", e.id, e.area_code, actor.entity_id, self_kind="enterprise",
                        purpose=purpose, full=full, via=via)
    return _entity_view(e, _entity_rep(_cipher(session), e), view)


def create_entity(session: Session, actor: Actor, data: EntityCreate | Mapping[str, Any]) -> EntityRead:
    """Register a legal entity (masked view back); refuses without ``registry.entity.write`` in the
    area, an invalid USCC, industry, size or date, an unknown area or a USCC already registered."""
    values = data.model_dump() if isinstance(data, EntityCreate) else dict(data)
    clean, problems = _check_entity(values)
    _raise_first(problems)
    actor.require("registry.entity.write", area_code=clean["area_code"], target="entity")
    _require_area(session, clean["area_code"])
    if repository.entity_by_uscc(session, clean["uscc"]) is not None:
        raise errors.EntityExists()
    eid = new_id()
    entity = LegalEntity(**_entity_row(_cipher(session), eid, clean))
    try:
        with session.begin_nested():
            session.add(entity)
    except IntegrityError as exc:
        raise errors.EntityExists() from exc
    _record(session, actor, "registry.entity.create", target_type="entity", target_id=eid,
            area_code=entity.area_code, detail={"uscc": entity.uscc})
    log.info("entity created", extra={"entity_id": eid})
    return _entity_view(entity, clean["legal_representative"], "masked")


def update_entity(session: Session, actor: Actor, entity_id: str,
                  data: EntityUpdate | Mapping[str, Any]) -> EntityRead:
    """Change the given fields of a legal entity (the USCC never changes); refuses without
    ``registry.entity.write`` in its area (and in the new one when it moves) or invalid values."""
    e = _get_entity_row(session, entity_id)
    actor.require("registry.entity.write", area_code=e.area_code, target=f"entity:{e.id}")
    changes = data.model_dump(exclude_unset=True) if isinstance(data, EntityUpdate) else dict(data)
    changes = {k: v for k, v in changes.items() if k in ENTITY_COLUMNS + ENTITY_OPTIONAL_COLUMNS and k != "uscc"}
    cipher = _cipher(session)
    old: dict[str, Any] = {
        "uscc": e.uscc, "name": e.name, "legal_representative": _entity_rep(cipher, e),
        "registered_address": e.registered_address, "area_code": e.area_code, "industry": e.industry,
        "size": e.size, "registration_date": e.registration_date, "status": e.status,
    }
    clean, problems = _check_entity({**old, **changes})
    _raise_first(problems)
    changed = [k for k in old if clean[k] != old[k]]
    if not changed:
        return _entity_view(e, clean["legal_representative"], "masked")
    if "area_code" in changed:
        actor.require("registry.entity.write", area_code=clean["area_code"], target=f"entity:{e.id}")
        _require_area(session, clean["area_code"])
    row = _entity_row(cipher, e.id, clean)
    for name in changed:
        column = "legal_representative_enc" if name == "legal_representative" else name
        setattr(e, column, row[column])
    session.flush()
    _record(session, actor, "registry.entity.update", target_type="entity", target_id=e.id,
            area_code=e.area_code, detail={"fields": changed, "from_area_code": old["area_code"]})
    return _entity_view(e, clean["legal_representative"], "masked")


def get_entity(session: Session, actor: Actor, entity_id: str, *, purpose: str | None = None,
               full: bool = False) -> EntityRead:
    """One legal entity: masked (``registry.entity.read``) or with ``full`` and a purpose
    (``registry.entity.read_personal``); an enterprise agent gets their own entity. Audited."""
    return _read_entity(session, actor, _get_entity_row(session, entity_id), purpose=purpose, full=full, via="id")


def get_my_entity(session: Session, actor: Actor) -> EntityRead:
    """The entity an enterprise agent acts for (unmasked, audited as a self-read)."""
    if actor.kind != "enterprise":
        raise PermissionDenied(permission="registry.entity.self", target="entity:me")
    if not actor.entity_id:
        raise errors.EntityNotFound()
    return get_entity(session, actor, actor.entity_id)


def find_entity_by_uscc(session: Session, actor: Actor, uscc: str, *, purpose: str | None = None,
                        full: bool = False) -> EntityRead:
    """The legal entity with this USCC; the same views, permissions and audit as :func:`get_entity`."""
    code = validate_uscc(uscc)
    if actor.kind != "enterprise" and not actor.scopes("registry.entity.read_personal" if full
                                                         else "registry.entity.read"):
        raise PermissionDenied(permission="registry.entity.read", target="entity")
    e = repository.entity_by_uscc(session, code)
    if e is None and actor.kind == "enterprise":
        raise PermissionDenied(permission="registry.entity.read", target="entity")
    if e is None:
        raise errors.EntityNotFound()
    return _read_entity(session, actor, e, purpose=purpose, full=full, via="uscc")


def verify_identity(session: Session, actor: Actor, kind: Literal["person", "entity"], identifier: str, name: str,
                    *, purpose: str) -> str:
    """身份核验: whether the ID number (person) or USCC (entity) belongs to ``name``; returns the
    record's id and reveals nothing else. Refuses an invalid number, an unknown one
    (``person_not_found`` / ``entity_not_found``) and a name that does not match
    (``identity_mismatch``). Every check is audited with its purpose and outcome.

    NO permission check of its own: a yes/no on a document the applicant shows in person is what a
    全市通办 hall clerk of ANY district needs, so the CALLER (the applications service, for clerks
    holding ``application.intake``) decides who may verify."""
    if kind == "person":
        number = validate_resident_id(identifier)
        p = repository.person_by_id_number_index(session, _cipher(session).blind_index(number, ID_NUMBER_INDEX))
        row_id, area = (p.id, p.area_code) if p is not None else (None, None)
        actual = _person_plain(_cipher(session), p, address=False)["name"] if p is not None else None
        missing: AppError = errors.PersonNotFound()
    else:
        e = repository.entity_by_uscc(session, validate_uscc(identifier))
        row_id, area = (e.id, e.area_code) if e is not None else (None, None)
        actual = e.name if e is not None else None
        missing = errors.EntityNotFound()
    matched = actual is not None and actual.strip() == (name or "").strip()
    outcome = "ok" if matched else ("not_found" if row_id is None else "mismatch")
    _record(session, actor, f"registry.{kind}.verify", target_type=kind, target_id=row_id, area_code=area,
            purpose=purpose, detail={"outcome": outcome})
    if row_id is None:
        raise missing
    if not matched:
        raise errors.IdentityMismatch()
    return row_id


def list_entities(session: Session, actor: Actor, area_code: str | None = None, cursor: str | None = None,
                  limit: int = 50) -> EntityPage:
    """A page of legal entities (masked) in the actor's ``registry.entity.read`` scopes. Audited."""
    prefixes = _scope_prefixes(actor, "registry.entity.read", area_code)
    limit = _clamp(limit)
    rows = repository.list_entities(session, prefixes, _parse_cursor(cursor), limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    cipher = _cipher(session)
    items = [_entity_view(e, _entity_rep(cipher, e), "masked") for e in rows]
    _record(session, actor, "registry.entity.list", target_type="entity", area_code=area_code,
            detail={"count": len(items), "ids": [e.id for e in rows]})
    return EntityPage(items=items, next_cursor=f"{rows[-1].area_code}.{rows[-1].id}" if more else None)


# -- imports -----------------------------------------------------------------------------------
def _read_text(stream: IO[Any] | bytes | str) -> str:
    """The file as text: UTF-8 (with or without a BOM), else GB 18030 (what Excel saves in China)."""
    data = stream if isinstance(stream, bytes | str) else stream.read()
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise errors.InvalidCsv(reason="it is neither UTF-8 nor GB 18030 text") from exc


def csv_records(stream: IO[Any] | bytes | str, required: tuple[str, ...],
                optional: tuple[str, ...] = ()) -> list[tuple[int, dict[str, str]]]:
    """(line number, values) of each non-blank data row; the header (line 1) must name every
    required column and nothing unknown. A row with too many or too few fields gets the marker
    column ``"*"``."""
    reader = csv.reader(io.StringIO(_read_text(stream), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise errors.InvalidCsv(reason="the header cannot be read") from exc
    if not header or not any(h.strip() for h in header):
        raise errors.InvalidCsv(reason="the header row is missing")
    names = [h.strip().lower() for h in header]
    missing = [c for c in required if c not in names]
    if missing:
        raise errors.InvalidCsv(reason="missing columns: {columns}", columns=", ".join(missing))
    unknown = [c for c in names if c not in required and c not in optional]
    if unknown:
        raise errors.InvalidCsv(reason="unknown columns: {columns}", columns=", ".join(unknown))
    if len(set(names)) != len(names):
        raise errors.InvalidCsv(reason="a column is named twice")
    out: list[tuple[int, dict[str, str]]] = []
    line = reader.line_num + 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                values = dict(zip(names, fields, strict=False))
                if len(fields) != len(names):
                    values["*"] = f"{len(fields)}"
                out.append((line, values))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise errors.InvalidCsv(reason="line {line} cannot be read", line=reader.line_num) from exc
    return out


@dataclass
class _Bad:
    rows: dict[int, list[RowError]] = field(default_factory=dict)

    def add(self, line: int, column: str, err: AppError) -> None:
        self.rows.setdefault(line, []).append(
            RowError(line=line, column=column, problem=err.code, message=err.render()))

    def flat(self) -> list[RowError]:
        return [e for line in sorted(self.rows) for e in self.rows[line]]


class _WrongFieldCount(AppError):
    code = "wrong_field_count"
    status = 422
    message = "This row has {found} fields; the header has {expected}."


def _validate_rows(
    session: Session, actor: Actor, kind: Kind, records: Iterable[tuple[int, Mapping[str, Any]]],
) -> tuple[list[tuple[int, dict[str, Any]]], _Bad, int]:
    """Check every row: fields, areas, duplicates in the file and in the registry, permission.
    Returns (good rows, bad rows, total)."""
    check = _check_person if kind == "persons" else _check_entity
    permission = f"registry.{'person' if kind == 'persons' else 'entity'}.import"
    key_column = "id_number" if kind == "persons" else "uscc"
    cipher = _cipher(session)
    bad = _Bad()
    checked: list[tuple[int, dict[str, Any], str | None]] = []
    total = 0
    for line, values in records:
        total += 1
        clean, problems = check(values)
        if "*" in values:
            expected = len(PERSON_COLUMNS) if kind == "persons" else len(ENTITY_COLUMNS)
            problems.insert(0, ("*", _WrongFieldCount(found=int(values["*"]), expected=expected)))
        for column, err in problems:
            bad.add(line, column, err)
        key = clean.get(key_column)
        if key is not None and kind == "persons":
            key = cipher.blind_index(key, ID_NUMBER_INDEX)
        checked.append((line, clean, key))

    areas = {c["area_code"] for _, c, _ in checked if c.get("area_code")}
    known = areas_service.existing_codes(session, areas)
    for code in sorted(known):
        actor.require(permission, area_code=code, target=kind)
    keys = [k for _, _, k in checked if k is not None]
    present = (repository.existing_person_indexes(session, keys) if kind == "persons"
               else repository.existing_usccs(session, keys))
    already = errors.PersonExists() if kind == "persons" else errors.EntityExists()

    seen: dict[str, int] = {}
    good: list[tuple[int, dict[str, Any]]] = []
    for line, clean, key in checked:
        code = clean.get("area_code")
        if code and code not in known:
            bad.add(line, "area_code", errors.UnknownArea(code=code))
        if key is not None:
            if key in seen:
                bad.add(line, key_column, errors.DuplicateInFile(field=key_column, line=seen[key]))
            else:
                seen[key] = line
                if key in present:
                    bad.add(line, key_column, already)
        if line not in bad.rows:
            good.append((line, clean))
    return good, bad, total


def _import(session: Session, actor: Actor, kind: Kind, records: Iterable[tuple[int, Mapping[str, Any]]], *,
            skip_bad_rows: bool, source: str) -> ImportReport:
    permission = f"registry.{'person' if kind == 'persons' else 'entity'}.import"
    actor.require(permission, target=kind)
    good, bad, total = _validate_rows(session, actor, kind, records)
    errors_found = bad.flat()
    refused = bool(errors_found) and not skip_bad_rows
    imported = 0
    if not refused and good:
        cipher = _cipher(session)
        now = utcnow()
        if kind == "persons":
            rows = [{**_person_row(cipher, new_id(), c), "created_at": now, "updated_at": now} for _, c in good]
            repository.insert_persons(session, rows)
        else:
            rows = [{**_entity_row(cipher, new_id(), c), "created_at": now, "updated_at": now} for _, c in good]
            repository.insert_entities(session, rows)
        imported = len(rows)
    report = ImportReport(kind=kind, total=total, imported=imported,
                          skipped=len(bad.rows) if not refused else 0, refused=refused, errors=errors_found)
    area_codes = sorted({c["area_code"] for _, c in good})
    _record(session, actor, f"registry.{'person' if kind == 'persons' else 'entity'}.import",
            target_type="person" if kind == "persons" else "entity",
            area_code=area_codes[0] if len(area_codes) == 1 else None,
            outcome="refused" if refused else "ok",
            detail={"source": source, "total": total, "imported": imported, "bad_rows": len(bad.rows),
                    "refused": refused, "areas": len(area_codes)})
    log.info("registry import", extra={"kind": kind, "total": total, "imported": imported,
                                       "bad_rows": len(bad.rows), "refused": refused})
    return report


def import_persons(session: Session, actor: Actor, records: Iterable[tuple[int, Mapping[str, Any]]], *,
                   skip_bad_rows: bool = False, source: str = "api") -> ImportReport:
    """Import person rows given as (line number, values). Checks every row first; with any bad row
    imports nothing (``refused``) unless ``skip_bad_rows``, which imports the good ones and lists
    the skipped. Needs ``registry.person.import`` over every row's area. One audit entry."""
    return _import(session, actor, "persons", records, skip_bad_rows=skip_bad_rows, source=source)


def import_entities(session: Session, actor: Actor, records: Iterable[tuple[int, Mapping[str, Any]]], *,
                    skip_bad_rows: bool = False, source: str = "api") -> ImportReport:
    """Import legal-entity rows; the same rules as :func:`import_persons`."""
    return _import(session, actor, "entities", records, skip_bad_rows=skip_bad_rows, source=source)


def import_persons_csv(session: Session, actor: Actor, stream: IO[Any] | bytes | str, *,
                       skip_bad_rows: bool = False) -> ImportReport:
    """Import a CSV file ``name,id_number,phone,address,area_code`` (see :func:`import_persons`);
    refuses a file without that header."""
    actor.require("registry.person.import", target="persons")
    return import_persons(session, actor, csv_records(stream, PERSON_COLUMNS), skip_bad_rows=skip_bad_rows,
                          source="csv")


def import_entities_csv(session: Session, actor: Actor, stream: IO[Any] | bytes | str, *,
                        skip_bad_rows: bool = False) -> ImportReport:
    """Import a CSV file ``uscc,name,legal_representative,registered_address,area_code,industry,size,
    registration_date`` (optional ``status``); see :func:`import_persons`."""
    actor.require("registry.entity.import", target="entities")
    return import_entities(session, actor, csv_records(stream, ENTITY_COLUMNS, ENTITY_OPTIONAL_COLUMNS),
                           skip_bad_rows=skip_bad_rows, source="csv")


def import_refused_error(report: ImportReport) -> errors.ImportRefused:
    """The error that tells a caller a refused import's bad rows (for the API's 422 and the CLI)."""
    return errors.ImportRefused(count=len({e.line for e in report.errors}),
                                errors=[e.model_dump() for e in report.errors])


# -- key rotation ------------------------------------------------------------------------------
def reencrypt(session: Session, actor: Actor, batch: int = 1000, max_rows: int | None = None) -> int:
    """Re-encrypt every person and entity token not under the active key and algorithm (after
    ``key_ring(settings).rotate_field_key()``), ``batch`` rows at a time; returns how many rows
    changed. Needs ``security.manage``. Stops after about ``max_rows`` (the caller commits and calls
    again) when given."""
    actor.require("security.manage", target="registry.reencrypt")
    cipher = _cipher(session)
    kid = cipher.active_kid
    prefix = f"v1.{cipher.algorithm}.{kid}."
    done = {"persons": 0, "entities": 0}

    def again(token: str | None, table: str, column: str, row_id: str) -> str | None:
        if token is None or token.startswith(prefix):
            return token
        aad = _aad(table, column, row_id)
        return cipher.encrypt(cipher.decrypt(token, aad), aad)

    def budget_left() -> bool:
        return max_rows is None or done["persons"] + done["entities"] < max_rows

    after = ""
    while budget_left():
        people = repository.persons_not_under(session, prefix, after, batch)
        if not people:
            break
        for p in people:
            p.name_enc = again(p.name_enc, "persons", "name", p.id) or ""
            p.id_number_enc = again(p.id_number_enc, "persons", "id_number", p.id) or ""
            p.phone_enc = again(p.phone_enc, "persons", "phone", p.id)
            p.address_enc = again(p.address_enc, "persons", "address", p.id)
        session.flush()
        after = people[-1].id
        done["persons"] += len(people)
        for p in people:
            session.expunge(p)
    after = ""
    while budget_left():
        entities = repository.entities_not_under(session, prefix, after, batch)
        if not entities:
            break
        for e in entities:
            e.legal_representative_enc = again(e.legal_representative_enc, "legal_entities",
                                               "legal_representative", e.id) or ""
        session.flush()
        after = entities[-1].id
        done["entities"] += len(entities)
        for e in entities:
            session.expunge(e)
    total = done["persons"] + done["entities"]
    if total:
        _record(session, actor, "registry.reencrypt", target_type="registry",
                detail={"key_id": kid, "algorithm": cipher.algorithm, **done})
        log.info("registry re-encrypted", extra={"key_id": kid, **done})
    return total


def counts(session: Session) -> dict[str, int]:
    """How many persons and legal entities the registry holds (no personal data)."""
    return {"persons": repository.count_persons(session), "entities": repository.count_entities(session)}


def describe_row_error(err: RowError, locale: str | None = None) -> str:
    """A row problem as one line for people: ``line N: column: problem — message``."""
    return translate("line {line}: {column}: {problem} — {message}", locale, line=err.line, column=err.column,
                     problem=err.problem, message=err.message)
