"""Per-request (or per-job) context that audit entries and logs read: request id, source address."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from yiwang.core.ids import new_id

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
source_ip_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("source_ip", default=None)
locale_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("locale", default=None)


def current_request_id() -> str:
    rid = request_id_var.get()
    if rid is None:
        rid = new_id()
        request_id_var.set(rid)
    return rid


@contextlib.contextmanager
def bound(request_id: str | None = None, source_ip: str | None = None) -> Iterator[str]:
    """Bind a request id (new if not given) and source address for the block."""
    rid = request_id or new_id()
    t1 = request_id_var.set(rid)
    t2 = source_ip_var.set(source_ip)
    try:
        yield rid
    finally:
        request_id_var.reset(t1)
        source_ip_var.reset(t2)
