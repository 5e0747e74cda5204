"""Translations with Babel. Message ids are English; Simplified Chinese is the default locale.

Catalogues are gettext ``.po`` files, one per domain, under
``yiwang/locale/<locale>/LC_MESSAGES/<domain>.po``; they are read with Babel at start-up and merged,
so there is no compile step to forget.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from yiwang.core.context import locale_var

LOCALES = ("zh_Hans_CN", "en")
DEFAULT_LOCALE = "zh_Hans_CN"
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"


@lru_cache
def catalogue(locale: str) -> dict[str, str]:
    out: dict[str, str] = {}
    folder = LOCALE_DIR / locale / "LC_MESSAGES"
    if not folder.is_dir():
        return out
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            cat = read_po(fh, locale=locale.replace("_Hans", ""))
        for msg in cat:
            if msg.id and msg.string and not msg.fuzzy and isinstance(msg.id, str):
                out[msg.id] = msg.string  # type: ignore[assignment]
    return out


def normalise_locale(value: str | None) -> str:
    if not value:
        return DEFAULT_LOCALE
    v = value.replace("-", "_").lower()
    if v.startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def translate(msgid: str, locale: str | None = None, /, **params: Any) -> str:
    """Translate ``msgid`` into ``locale`` (the current request's when None), then format."""
    loc = locale or locale_var.get() or DEFAULT_LOCALE
    text = msgid if loc == "en" else catalogue(loc).get(msgid, msgid)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return msgid.format(**params)
    return text


_ = translate
