"""Every user-facing files msgid (the errors and the names of refused kinds) has a Simplified-Chinese
translation in the domain's own catalogue."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from yiwang.core.errors import AppError
from yiwang.files import errors, service

PO = Path(service.__file__).resolve().parents[1] / "locale" / "zh_Hans_CN" / "LC_MESSAGES" / "files.po"


def _own_catalogue() -> dict[str, str]:
    with PO.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale="zh_CN") if m.id and m.string and not m.fuzzy}


ERRORS = sorted({cls.message for _, cls in inspect.getmembers(errors, inspect.isclass)
                 if issubclass(cls, AppError) and cls.__module__ == errors.__name__})
KINDS = sorted({*service._KINDS.values(), service.OTHER_KIND, service.UNKNOWN_KIND})


class TestTranslations:
    @pytest.mark.parametrize("msgid", ERRORS + KINDS)
    def test_has_a_chinese_translation(self, msgid):
        assert _own_catalogue().get(msgid, "") != ""

    def test_the_refusal_names_the_kind_in_chinese(self):
        exc = errors.FileTypeRefused(kind=service.OTHER_KIND, accepted="PDF", ext="GIF")
        assert (str(exc), exc.render(), exc.render("en")) == (
            "This file is not accepted here: it is a file of type GIF. Upload one of these types: PDF.",
            "此处不接受该文件：它是GIF 类型的文件。请上传以下类型之一：PDF。",
            "This file is not accepted here: it is a file of type GIF. Upload one of these types: PDF.")
