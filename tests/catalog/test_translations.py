"""Every user-facing catalogue msgid (errors, form messages, labels, pages) has a Chinese translation."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from yiwang.catalog import errors, forms, pages
from yiwang.core.errors import AppError
from yiwang.core.i18n import catalogue

TEMPLATES = Path(pages.__file__).resolve().parents[1] / "templates" / "catalog"


def _msgids() -> list[str]:
    found = {cls.message for _, cls in inspect.getmembers(errors, inspect.isclass)
             if issubclass(cls, AppError) and cls.__module__ == errors.__name__}
    found |= set(forms._MESSAGES.values()) | set(forms._FORMAT_MESSAGES.values())
    found |= {"{label} must be a whole number.", "{label} must be a number.", "{label} has the wrong kind of value.",
              "{label} is not valid.", "The form"}
    found |= set(pages.KIND_LABELS.values()) | set(pages.DEPTH_LABELS.values()) | {"published", "retired"}
    for path in TEMPLATES.glob("*.html"):
        found.update(re.findall(r"""_\(["']((?:[^"'\\]|\\.)*)["']""", path.read_text()))
    return sorted(found)


@pytest.mark.parametrize("msgid", _msgids())
def test_has_a_translation(msgid: str) -> None:
    assert catalogue("zh_Hans_CN").get(msgid), msgid


def test_found_the_messages() -> None:
    assert "Please fill in {label}." in _msgids()
    assert "Form preview" in _msgids()
