"""Every user-facing registry msgid (errors, validators, pages) has a Simplified-Chinese translation."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import yiwang.core.fieldcrypt as fieldcrypt
import yiwang.core.validators as validators
from yiwang.core.errors import AppError
from yiwang.core.i18n import catalogue
from yiwang.registry import errors, pages, service

TEMPLATES = Path(pages.__file__).resolve().parents[1] / "templates" / "registry"


def _error_messages() -> list[str]:
    found = []
    for module in (errors, validators, fieldcrypt, service):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, AppError) and cls.__module__ == module.__name__ and cls.__name__ != "_WithReason":
                found.append(cls.message)
    return sorted(set(found))


def _template_msgids() -> list[str]:
    ids: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        ids.update(re.findall(r'_\("((?:[^"\\]|\\.)*)"', path.read_text()))
    return sorted(ids)


def _label_msgids() -> list[str]:
    return sorted({*pages.GENDER_LABELS.values(), *pages.SIZE_LABELS.values(), *pages.STATUS_LABELS.values()})


@pytest.mark.parametrize("msgid", _error_messages() + _template_msgids() + _label_msgids())
def test_has_a_translation(msgid: str) -> None:
    assert catalogue("zh_Hans_CN").get(msgid), msgid


def test_found_the_messages() -> None:
    assert "This is not a valid resident ID number." in _error_messages()
    assert "Show full record" in _template_msgids()
