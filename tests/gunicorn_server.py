"""Run the real gunicorn (gunicorn.conf.py) on 127.0.0.1 for a test, bounded in time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, str]:
    """Return (status, body) of a GET; HTTP errors are answers, not exceptions."""
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Server:
    """A running gunicorn: its base URL and its master's process id."""

    url: str
    pid: int

    def workers(self) -> list[int]:
        """Return the worker processes' ids (the master's children)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(child) for child in children]


@contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2, log: Path,
             command: list[str] | None = None, cwd: Path = ROOT) -> Iterator[Server]:  # fmt: skip
    """Start gunicorn with ``env`` (SUPPORTDESK_* settings); stop it afterwards.

    ``command``: another gunicorn (an installed wheel's), else this checkout's.
    """
    port = free_port()
    full = dict(os.environ, SUPPORTDESK_BIND=f"127.0.0.1:{port}",
                SUPPORTDESK_WORKERS=str(workers), **env)  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 (our own gunicorn, fixed arguments)
            command or [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=cwd, env=full, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if get(url + "/health", timeout=2)[0] == 200:
                        break
                except OSError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield Server(url, process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_port(port: int, *, seconds: float = 20, alive: Callable[[], bool] | None = None
                  ) -> None:  # fmt: skip
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert alive is None or alive(), f"the server for port {port} exited"
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.1)
