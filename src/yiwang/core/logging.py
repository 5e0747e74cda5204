"""JSON logs, one object a line, each with the request id. Never log personal data: log ids."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from yiwang.core.context import request_id_var

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs request URLs at INFO, and a URL may carry an OIDC code or other secrets.
    for noisy in ("uvicorn.access", "casbin", "casbin.policy", "casbin.enforcer", "casbin.role", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
