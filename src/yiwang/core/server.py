"""Serving the ASGI app with several worker processes that share the connections evenly.

uvicorn's own ``--workers`` binds one socket in the parent and lets the children accept from it:
the worker that wakes first takes every connection waiting, and a keep-alive client (a reverse
proxy's upstream pool, a load generator) stays where it landed. Measured with 64 keep-alive
clients on 2 workers: one worker at 100 % CPU, the other idle. Here each worker binds its own
listening socket with ``SO_REUSEPORT``, so the kernel spreads new connections over the workers by
their addresses, as nginx's ``reuseport`` does. The parent only starts, watches and stops them: a
worker that dies is started again; SIGTERM or SIGINT stops them all (each finishes its requests).

``python -m yiwang.core.server APP --host H --port P --workers N [--factory]`` serves any ASGI app
this way (the benchmarks use it for the bare baseline app too, so both are served alike).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
import time
from typing import Any

RESTART_PAUSE = 1.0
"""Seconds before a worker that died is started again (a crash loop must not spin)."""


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _die_with_parent() -> None:
    """Ask Linux to send this worker SIGTERM when the parent dies, even by SIGKILL (no orphans
    left holding the port)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's own SIGTERM handling still applies
        pass


def _worker(app: str, host: str, port: int, options: dict[str, Any], parent: int) -> None:
    import uvicorn

    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the request above took effect
        return
    sock = _listen(host, port)
    uvicorn.Server(uvicorn.Config(app, **options)).run(sockets=[sock])


def serve(app: str, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, **options: Any) -> None:
    """Serve ``app`` (an import string) with ``workers`` processes; ``options`` go to uvicorn."""
    import uvicorn

    if workers <= 1:
        uvicorn.run(app, host=host, port=port, **options)
        return
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> multiprocessing.process.BaseProcess:
        proc = context.Process(target=_worker, args=(app, host, port, options, os.getpid()), name="yiwang-web")
        proc.start()
        return proc

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = [start() for _ in range(workers)]
    try:
        while not stopping:
            time.sleep(0.2)
            for n, proc in enumerate(procs):
                if not proc.is_alive() and not stopping:
                    time.sleep(RESTART_PAUSE)
                    procs[n] = start()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m yiwang.core.server", description=__doc__.splitlines()[0])
    parser.add_argument("app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--factory", action="store_true")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    serve(args.app, host=args.host, port=args.port, workers=args.workers, factory=args.factory,
          log_level=args.log_level, access_log=False, proxy_headers=True)


if __name__ == "__main__":
    main()
