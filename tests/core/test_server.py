"""``yiwang.core.server``: worker processes that each listen with SO_REUSEPORT share the
connections, a dead worker is replaced, and SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pid_of_new_connection(url: str) -> int:
    # A new client each time: a new connection, which the kernel places on one of the workers.
    with httpx.Client(timeout=5) as client:
        return int(client.get(url).text)


def _until(check, seconds: float = 30.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture
def served():
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "yiwang.core.server", "tests.core.asgi_pid:app", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


class TestReusePortWorkers:
    def test_connections_reach_both_workers(self, served):
        _proc, url = served
        seen: set[int] = set()
        _until(lambda: seen.add(_pid_of_new_connection(url)) or len(seen) == 2)
        assert len(seen) == 2

    def test_a_dead_worker_is_replaced(self, served):
        _proc, url = served
        seen: set[int] = set()
        _until(lambda: seen.add(_pid_of_new_connection(url)) or len(seen) == 2)
        victim = min(seen)
        os.kill(victim, signal.SIGKILL)
        fresh: set[int] = set()
        _until(lambda: fresh.add(_pid_of_new_connection(url)) or len(fresh - seen) == 1)
        assert victim not in fresh and len(fresh - seen) == 1

    def test_workers_do_not_outlive_a_killed_parent(self, served):
        proc, url = served
        seen: set[int] = set()
        _until(lambda: seen.add(_pid_of_new_connection(url)) or len(seen) == 2)
        proc.kill()
        proc.wait(10)
        for pid in seen:
            _until(lambda pid=pid: _gone(pid))

    def test_sigterm_stops_every_worker(self, served):
        proc, url = served
        seen: set[int] = set()
        _until(lambda: seen.add(_pid_of_new_connection(url)) or len(seen) == 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        for pid in seen:
            _until(lambda pid=pid: _gone(pid))
