"""E-mail through an SMTP server (smtplib behind this one module): STARTTLS and login when the
settings say so, UTF-8 subject and body."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from yiwang.core.settings import Settings

TIMEOUT_SECONDS = 30


def configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.smtp_from)


def send_email(settings: Settings, to: str, subject: str, body: str) -> None:
    """Send one plain-text e-mail; raises ``smtplib.SMTPException`` or ``OSError`` on failure."""
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=settings.smtp_from.rpartition("@")[2] or None)
    msg.set_content(body, charset="utf-8")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT_SECONDS) as smtp:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls()
            smtp.ehlo()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(msg)


def describe(exc: BaseException) -> str:
    """A reason for the log without personal data: the exception's class and SMTP code only (a
    server's message may repeat the address)."""
    code = getattr(exc, "smtp_code", None)
    return f"smtp:{type(exc).__name__}" + (f":{code}" if code else "")
