"""A real SMTP server on loopback (aiosmtpd), scriptable: answers, delays, TLS."""

from __future__ import annotations

import asyncio
import email
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Sink:
    """What the server received, and what it should answer next."""

    port: int
    received: list[Received] = field(default_factory=list)
    rcpt_answers: list[str] = field(default_factory=list)  # consumed one per RCPT
    data_delay: float = 0.0
    data_started: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: Any) -> str:  # fmt: skip
        with self.lock:
            answer = self.rcpt_answers.pop(0) if self.rcpt_answers else "250 OK"
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_started.set()
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                          envelope.original_content))  # fmt: skip
        return "250 Message accepted"


def start_sink(port: int | None = None, **controller_options: Any) -> tuple[Sink, Controller]:
    sink = Sink(port or free_port())
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **controller_options)
    controller.start()
    return sink, controller


@pytest.fixture
def smtp_sink() -> Iterator[Sink]:
    sink, controller = start_sink()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
               "-keyout", str(key), "-out", str(cert)]  # fmt: skip
    # openssl from PATH with fixed arguments (.ci/run installs it where missing)
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603
    return cert, key
