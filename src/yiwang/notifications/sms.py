"""SMS through a gateway (behind this one module): a small protocol, and an HTTP gateway that
posts ``{"to", "template", "params"}`` as JSON with a bearer token.

The gateway renders the text from its own registered template (短信模板, as Chinese SMS providers
require), so only the template code and the notification's non-personal params leave the system,
besides the number itself."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from yiwang.core.settings import Settings

TIMEOUT_SECONDS = 15


class SmsGateway(Protocol):
    def send(self, to: str, template: str, params: dict[str, Any]) -> None:
        """Send one message; raises on failure."""


class HttpSmsGateway:
    """POST JSON to the gateway URL with ``Authorization: Bearer <token>``; 2xx is success."""

    def __init__(self, url: str, token: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = url
        self.token = token
        self.transport = transport

    def send(self, to: str, template: str, params: dict[str, Any]) -> None:
        with httpx.Client(transport=self.transport, timeout=TIMEOUT_SECONDS) as client:
            response = client.post(self.url, json={"to": to, "template": template, "params": params},
                                   headers={"Authorization": f"Bearer {self.token}"})
        response.raise_for_status()


def configured(settings: Settings) -> bool:
    return bool(settings.sms_gateway_url)


def gateway_for(settings: Settings) -> SmsGateway:
    return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token)


def describe(exc: BaseException) -> str:
    """A reason for the log without personal data: the class and HTTP status only."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"sms:http_{exc.response.status_code}"
    return f"sms:{type(exc).__name__}"
