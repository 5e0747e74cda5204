"""Use cases of stored files (上传文件): store an upload, read it back under an access rule.

An upload is judged by its bytes alone: the type is detected from the content (``filetype`` and a
look at the first bytes for text formats), never taken from the name or the client's declared type,
and only the types the caller accepts are stored. The bytes go to ``files_dir/<xx>/<id>`` (``xx``:
the id's last two, random, characters), written to a temporary file and renamed, mode 0600; the
uploader's name is kept only as a sanitised display name. Nothing here interprets the content, and
it is served back only as a download (see :func:`download_headers`).

A file written for a transaction that then rolls back is removed again, so a failed request leaves
no file behind.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import filetype
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from yiwang.audit import service as audit_service
from yiwang.core.actor import Actor
from yiwang.core.db import utcnow
from yiwang.core.errors import AuthenticationRequired, PermissionDenied
from yiwang.core.ids import new_id
from yiwang.core.jobs import settings_for
from yiwang.core.settings import Settings
from yiwang.files import errors, repository
from yiwang.files.models import StoredFile
from yiwang.files.schemas import StoredFileRead

log = logging.getLogger("yiwang.files")

PDF, JPEG, PNG, WEBP, HEIC, TEXT = (
    "application/pdf", "image/jpeg", "image/png", "image/webp", "image/heic", "text/plain")
DOCUMENT_TYPES = frozenset({PDF, JPEG, PNG})
"""申请材料: scans, PDFs and photos of documents."""
PHOTO_TYPES = frozenset({JPEG, PNG, WEBP, HEIC})
"""Photos (evidence of a city event, a picture of a site): what phones take."""
PURPOSE_TYPES: dict[str, frozenset[str]] = {"material": DOCUMENT_TYPES, "photo": PHOTO_TYPES}
"""The purposes the public upload route accepts, and the types each allows."""
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""The size limit when the settings give none (``max_upload_bytes`` is the setting)."""
DISPLAY_NAME_LIMIT = 200
_PURPOSE = re.compile(r"[a-z][a-z0-9_.]{0,39}")
_EXTENSION = re.compile(r"[A-Za-z0-9]{1,5}")

#: How an accepted type is named to the uploader, in this order.
_TYPE_NAMES = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG", WEBP: "WebP", HEIC: "HEIC", TEXT: "TXT"}
#: File-name extensions that fit each type; the first is the one given when the name has none of them.
_EXTENSIONS = {
    PDF: (".pdf",), JPEG: (".jpg", ".jpeg", ".jpe", ".jfif"), PNG: (".png",), WEBP: (".webp",),
    HEIC: (".heic", ".heif"), TEXT: (".txt", ".csv", ".tsv"),
}
#: What a refused file is, as its uploader would say it (each is a msgid of its own).
_KINDS = {
    "application/x-executable": "a program (ELF)",
    "application/x-msdownload": "a Windows program (EXE)",
    "application/wasm": "a WebAssembly program",
    "application/x-shockwave-flash": "a Flash file",
    "application/x-google-chrome-extension": "a browser extension",
    "application/x-deb": "a software package",
    "application/x-rpm": "a software package",
    "application/zip": "a ZIP archive",
    "application/x-rar-compressed": "a RAR archive",
    "application/x-7z-compressed": "a 7z archive",
    "application/gzip": "a compressed archive",
    "application/x-bzip2": "a compressed archive",
    "application/x-xz": "a compressed archive",
    "application/zstd": "a compressed archive",
    "application/x-tar": "a tar archive",
    "application/msword": "a Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "a Word document",
    "application/vnd.oasis.opendocument.text": "a word-processor document",
    "application/vnd.ms-excel": "a spreadsheet",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "a spreadsheet",
    "application/vnd.oasis.opendocument.spreadsheet": "a spreadsheet",
    "application/vnd.ms-powerpoint": "a presentation",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "a presentation",
    "application/vnd.oasis.opendocument.presentation": "a presentation",
    "application/x-sqlite3": "a database file",
    PDF: "a PDF document",
    JPEG: "a JPEG image",
    PNG: "a PNG image",
    "image/apng": "an animated PNG image",
    "image/gif": "a GIF image",
    WEBP: "a WebP image",
    HEIC: "a HEIC photo",
    "image/bmp": "a BMP image",
    "image/tiff": "a TIFF image",
    "image/avif": "an AVIF image",
    "text/html": "a web page (HTML)",
    "image/svg+xml": "an SVG image",
    "text/x-script": "a script",
    "application/xml": "an XML document",
    TEXT: "a text file",
}
OTHER_KIND = "a file of type {ext}"
UNKNOWN_KIND = "a file of an unknown kind"
_HTML_MARKS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<script", b"<iframe", b"<meta", b"<a ", b"<img")


# -- detection ------------------------------------------------------------------------------------


def detect(data: bytes) -> tuple[str | None, str, dict[str, str]]:
    """What the bytes are: ``(media type or None, kind msgid, kind params)``. Binary formats are
    recognised by their signature; text is looked at for markup and scripts, which are named so
    (a browser could run them) and never taken for plain text."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        label = _KINDS.get(kind.mime)
        return kind.mime, label or OTHER_KIND, {} if label else {"ext": kind.extension.upper()}
    head = data[:4096]
    if head.startswith(codecs.BOM_UTF8):
        head = head[len(codecs.BOM_UTF8):]
    lowered = head.lstrip().lower()
    if lowered.startswith(b"#!"):
        media = "text/x-script"
    elif b"<svg" in lowered:
        media = "image/svg+xml"
    elif any(mark in lowered for mark in _HTML_MARKS):
        media = "text/html"
    elif lowered.startswith(b"<?xml"):
        media = "application/xml"
    elif b"\0" not in head and _is_utf8(head):
        media = TEXT
    else:
        return None, UNKNOWN_KIND, {}
    return media, _KINDS[media], {}


def _is_utf8(head: bytes) -> bool:
    try:
        # Incremental, so a character cut at the end of the sample does not count against it.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _accepted_names(allowed: frozenset[str]) -> str:
    known = [name for media, name in _TYPE_NAMES.items() if media in allowed]
    other = sorted(m.rsplit("/", 1)[-1].upper() for m in allowed if m not in _TYPE_NAMES)
    return ", ".join(known + other)


# -- names and places -----------------------------------------------------------------------------


def clean_display_name(name: str, media_type: str) -> str:
    """The uploader's file name made safe to show and to offer on download: only its last path
    component, no control, format (bidi) or reserved characters, no leading or trailing dots, at
    most 200 characters, and the extension of the detected type (``scan.pdf`` that is a PNG becomes
    ``scan.png``; a type this module does not know keeps the uploader's)."""
    text = unicodedata.normalize("NFC", name or "")
    text = re.split(r"[\\/]", text)[-1]
    text = "".join(" " if unicodedata.category(c)[0] in "CZ" else c for c in text)
    text = re.sub(r'[<>:"|?*]', "_", text)
    text = re.sub(r"\s+", " ", text).strip(" .")
    stem, dot, ext = text.rpartition(".")
    if not (dot and stem and _EXTENSION.fullmatch(ext)):
        stem, ext = text, ""  # no extension, or a dot inside the name (张三.身份证)
    fitting = _EXTENSIONS.get(media_type, ())
    suffix = f".{ext}" if ext else ""
    if suffix.lower() not in fitting and fitting:
        # The extension is the detected type's, whatever the uploader's said.
        suffix = fitting[0]
    stem = stem.strip(" .") or "file"
    return stem[: DISPLAY_NAME_LIMIT - len(suffix)].rstrip(" .") + suffix


def _path(settings: Settings, file_id: str) -> Path:
    # Not by the first characters: those are the time, and would fill one folder for years.
    return settings.resolved_files_dir / file_id[-2:] / file_id


def _write(folder: Path, final: Path, data: bytes) -> None:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")  # created 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, final)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- a written file belongs to its transaction -----------------------------------------------------

_PENDING = "files.written"
_COMMITTING = "files.committing"


def _committed(session: Session) -> None:
    # Fires for the root commit and for a savepoint's release, just before that transaction ends.
    session.info[_COMMITTING] = True


def _ended(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop(_COMMITTING, False)
    paths = session.info.get(_PENDING, {}).pop(transaction, [])
    if not paths:
        return
    if not committed:  # rolled back, or closed without a commit
        for path in paths:
            path.unlink(missing_ok=True)
            log.info("stored file removed: its transaction did not commit", extra={"file_id": path.name})
    elif transaction.parent is not None:  # a savepoint released: the outer transaction decides
        session.info[_PENDING].setdefault(transaction.parent, []).extend(paths)


def _belongs_to_transaction(session: Session, path: Path) -> None:
    """Remove ``path`` again unless the session's transaction (and, inside a savepoint, every
    enclosing one) commits: a rolled-back or abandoned request leaves no file behind."""
    if not event.contains(session, "after_transaction_end", _ended):
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_transaction_end", _ended)
    transaction = session.get_nested_transaction() or session.get_transaction()
    assert transaction is not None, "flush before tracking: the row's transaction owns the file"
    session.info.setdefault(_PENDING, {}).setdefault(transaction, []).append(path)


# -- use cases ------------------------------------------------------------------------------------


def _read_at_most(data: bytes | BinaryIO, limit: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    return data.read(limit + 1)


def store(
    session: Session,
    actor: Actor,
    *,
    data: bytes | BinaryIO,
    filename: str,
    purpose: str,
    allowed: frozenset[str] | None = None,
    max_bytes: int | None = None,
    owner_user_id: str | None = None,
) -> StoredFileRead:
    """Store an upload of the actor's (or, for the system actor, of ``owner_user_id``). ``allowed``
    (detected media types) defaults to the purpose's (``PURPOSE_TYPES``, else ``DOCUMENT_TYPES``),
    ``max_bytes`` to the ``max_upload_bytes`` setting. Refuses an empty file (``file_empty``), one
    over the limit (``file_too_large``), and content of any other type whatever its name says
    (``file_type_refused``): a refusal stores nothing."""
    owner = owner_user_id or actor.user_id
    if not actor.is_authenticated or owner is None:
        raise AuthenticationRequired()
    if owner != actor.user_id and not actor.is_system:
        raise PermissionDenied(permission="file.store", target=f"user:{owner}")
    if not _PURPOSE.fullmatch(purpose or ""):
        raise errors.InvalidPurpose(purpose=purpose)
    settings = settings_for(session)
    limit = max_bytes if max_bytes is not None else (settings.max_upload_bytes or DEFAULT_MAX_BYTES)
    accepted = allowed if allowed is not None else PURPOSE_TYPES.get(purpose, DOCUMENT_TYPES)
    content = _read_at_most(data, limit)
    if not content:
        raise errors.FileEmpty()
    if len(content) > limit:
        log.info("upload refused", extra={"user_id": owner, "reason": "too_large", "limit": limit})
        raise errors.FileTooLarge(limit=f"{limit / (1024 * 1024):g}")
    media_type, kind, kind_params = detect(content)
    if media_type not in accepted:
        log.warning("upload refused", extra={"user_id": owner, "reason": "type", "detected": media_type or "unknown",
                                             "purpose": purpose})
        raise errors.FileTypeRefused(kind=kind, accepted=_accepted_names(accepted), detected=media_type,
                                     **kind_params)
    assert media_type is not None
    file_id = new_id()
    row = StoredFile(id=file_id, owner_user_id=owner, purpose=purpose, media_type=media_type, size=len(content),
                     sha256=hashlib.sha256(content).hexdigest(),
                     display_name=clean_display_name(filename, media_type), created_at=utcnow())
    repository.add(session, row)
    session.flush()
    path = _path(settings, file_id)
    _write(path.parent, path, content)
    _belongs_to_transaction(session, path)
    audit_service.record(session, actor, "file.store", target_type="file", target_id=file_id,
                         detail={"owner_user_id": owner, "purpose": purpose, "media_type": media_type,
                                 "size": row.size})
    log.info("file stored", extra={"file_id": file_id, "media_type": media_type, "size": row.size})
    return StoredFileRead.model_validate(row)


def store_upload(session: Session, actor: Actor, *, data: bytes | BinaryIO, filename: str,
                 purpose: str) -> StoredFileRead:
    """The public upload route's :func:`store`: only the purposes of ``PURPOSE_TYPES`` (material,
    photo) with their types; refuses any other purpose (``invalid_purpose``)."""
    if purpose not in PURPOSE_TYPES:
        raise errors.InvalidPurpose(purpose=purpose)
    return store(session, actor, data=data, filename=filename, purpose=purpose)


def get(session: Session, file_id: str) -> StoredFileRead | None:
    """A stored file's record, or None: no access check (for services that decide access themselves)."""
    row = repository.get(session, file_id)
    return StoredFileRead.model_validate(row) if row is not None else None


def _may_read(actor: Actor, stored: StoredFileRead, can_read: Callable[[StoredFileRead], bool] | None) -> bool:
    if actor.user_id is not None and actor.user_id == stored.owner_user_id:
        return True
    return actor.is_system or (can_read is not None and bool(can_read(stored)))


def describe(session: Session, actor: Actor, file_id: str) -> StoredFileRead:
    """A stored file's record for its owner; refuses anyone else (403, audited) and an unknown id."""
    stored = get(session, file_id)
    if stored is None:
        raise errors.FileNotFound()
    if actor.user_id is None or actor.user_id != stored.owner_user_id:
        raise PermissionDenied(permission="file.read", target=f"file:{file_id}")
    return stored


def open_file(
    session: Session,
    actor: Actor,
    file_id: str,
    *,
    can_read: Callable[[StoredFileRead], bool] | None = None,
    area_code: str | None = None,
    reason: str | None = None,
) -> tuple[StoredFileRead, bytes]:
    """A stored file's record and bytes. The owner may read; anyone else only when the caller's
    ``can_read(record)`` says so (e.g. the staff handling the application the file belongs to), and
    that read is audited as ``file.read`` (with ``area_code`` and ``reason`` when given). Refuses
    everyone else (403) and an unknown id; ``file_unavailable`` when the bytes are gone or altered."""
    stored = get(session, file_id)
    if stored is None:
        raise errors.FileNotFound()
    if not _may_read(actor, stored, can_read):
        raise PermissionDenied(permission="file.read", area_code=area_code, target=f"file:{file_id}")
    content = _checked_bytes(session, stored)
    if actor.user_id != stored.owner_user_id:
        audit_service.record(session, actor, "file.read", target_type="file", target_id=file_id,
                             area_code=area_code, purpose=reason,
                             detail={"owner_user_id": stored.owner_user_id, "purpose": stored.purpose,
                                     "media_type": stored.media_type})
    return stored, content


def read_bytes(session: Session, file_id: str) -> bytes:
    """A stored file's bytes, checked against its checksum, with no access check (for services that
    decide access themselves and audit their own reads); ``file_unavailable`` when gone or altered."""
    stored = get(session, file_id)
    if stored is None:
        raise errors.FileNotFound()
    return _checked_bytes(session, stored)


def _checked_bytes(session: Session, stored: StoredFileRead) -> bytes:
    """The stored bytes, or ``file_unavailable`` when they are gone or do not match the checksum."""
    try:
        content = _path(settings_for(session), stored.id).read_bytes()
    except FileNotFoundError:
        log.error("stored file missing", extra={"file_id": stored.id})
        raise errors.FileUnavailable() from None
    if len(content) != stored.size or hashlib.sha256(content).hexdigest() != stored.sha256:
        log.error("stored file does not match its checksum", extra={"file_id": stored.id})
        raise errors.FileUnavailable()
    return content


def download_headers(stored: StoredFileRead) -> dict[str, str]:
    """Headers for serving a stored file (with ``media_type=stored.media_type``): always a download
    under its display name (RFC 6266/5987), never sniffed, sandboxed if opened, never cached."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in stored.display_name)
    return {
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(stored.display_name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
        "Cache-Control": "private, no-store",
    }
