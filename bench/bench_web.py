"""HTTP throughput and p99 of the platform's web tier beside a bare ASGI app (``web_bare.py``),
both served by uvicorn with 2 worker processes on 127.0.0.1 and driven by the same client: 64
concurrent connections for a few seconds per figure (loopback only, bounded)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CONCURRENCY = 64
SECONDS = 4.0
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app: str, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module names
        [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
         "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{app} did not start")


async def _connection(host: str, port: int, path: str, stop: float, latencies: list[float]) -> None:
    """One keep-alive HTTP/1.1 connection sending GETs back to back until ``stop`` (a minimal
    client: httpx's pool, not the server, was the bottleneck at 64 connections)."""
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\n\r\n".encode()
    try:
        while time.perf_counter() < stop:
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if status != 200:
                raise RuntimeError(f"{path}: {status}")
            latencies.append(time.perf_counter() - t)
    finally:
        writer.close()


async def _load(url: str) -> tuple[float, float]:
    parts = httpx.URL(url)
    latencies: list[float] = []
    started = time.perf_counter()
    stop = started + SECONDS
    await asyncio.gather(*(_connection(parts.host, parts.port or 80, parts.raw_path.decode(), stop, latencies)
                           for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return len(latencies) / elapsed, latencies[int(len(latencies) * 0.99)] * 1000


def run(report) -> None:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "YIWANG_VAR_DIR": tmp, "YIWANG_LOG_LEVEL": "WARNING"}
        subprocess.run([sys.executable, "-m", "yiwang.cli", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([sys.executable, "-c", (
            "from yiwang.core.settings import get_settings; from yiwang.core.db import Database;"
            "from yiwang.core.actor import SYSTEM; from yiwang.areas import service as a;"
            "db = Database(get_settings());"
            "s = db.session(); a.create_area(s, SYSTEM, code='31', name='上海市', level='city');"
            "a.create_area(s, SYSTEM, code='310101', name='黄浦区', level='district', parent_code='31');"
            "s.commit()")], cwd=ROOT, env=env, check=True)
        figures = {}
        for name, app in (("bare", "bench.web_bare:app"), ("yiwang", "yiwang.asgi:app")):
            proc, url = _serve(app, env)
            try:
                figures[name, "health"] = asyncio.run(_load(url + "/healthz"))
                figures[name, "area"] = asyncio.run(_load(url + "/api/v1/areas/310101"))
            finally:
                proc.terminate()
                proc.wait(10)
    for what, label in (("health", "GET /healthz"), ("area", "GET /api/v1/areas/{code} (database read)")):
        ours, base = figures["yiwang", what], figures["bare", what]
        report(f"{label}, 64 clients: throughput", ours[0], "req/s", "bare ASGI app, same server", base[0])
        report(f"{label}, 64 clients: p99", ours[1], "ms", "bare ASGI app, same server", base[1],
               higher_is_better=False)
