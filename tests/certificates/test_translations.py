"""Every user-facing certificates msgid (errors, reasons, verdicts, pages) has a Simplified-Chinese
translation of its own (not another domain's homonym)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from yiwang.certificates import errors, pages, service
from yiwang.core.errors import AppError
from yiwang.core.i18n import catalogue

TEMPLATES = Path(pages.__file__).resolve().parents[1] / "templates" / "certificates"
PO = Path(pages.__file__).resolve().parents[1] / "locale" / "zh_Hans_CN" / "LC_MESSAGES" / "certificates.po"


def _error_messages() -> list[str]:
    return sorted({cls.message for _, cls in inspect.getmembers(errors, inspect.isclass)
                   if issubclass(cls, AppError) and cls.__module__ == errors.__name__})


def _template_msgids() -> list[str]:
    ids: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        source = path.read_text()
        ids.update(re.findall(r'_\("((?:[^"\\]|\\.)*)"', source))
        ids.update(re.findall(r"_\('((?:[^'\\]|\\.)*)'", source))
    return sorted(ids)


def _service_msgids() -> list[str]:
    reasons = re.findall(r'_text\([^,]+, "([^"]+)"', Path(service.__file__).read_text())
    reasons += re.findall(r'CertificateInvalid\(reason="([^"]+)"\)', Path(service.__file__).read_text())
    return sorted({*service.REASONS.values(), *pages.STATUS_LABELS.values(), *reasons})


ALL = _error_messages() + _template_msgids() + _service_msgids()


@pytest.mark.parametrize("msgid", ALL)
def test_has_a_translation_in_the_domains_catalogue(msgid: str) -> None:
    own = set(re.findall(r'^msgid "((?:[^"\\]|\\.)*)"$', PO.read_text(), re.M))

    assert msgid in own, msgid
    assert catalogue("zh_Hans_CN").get(msgid), msgid


def test_found_the_messages() -> None:
    assert "The end of validity is before its start." in ALL
    assert "QR code to verify this certificate" in ALL
    assert "The certificate was revoked on {date}." in ALL
